package pxar

// Internal helpers the external tests (package pxar_test) share.
var (
	MakeTree    = makeTree
	Fixtures    = fixtures
	CreateBytes = createBytes
)
