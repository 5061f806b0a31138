package datastore

import (
	"encoding/json"

	"cairn/core"
)

func gcStatusJSON(st *core.GCStatus) []byte {
	b, _ := json.Marshal(st)
	return b
}
