// Package reliability holds cairn's reliability suite: crash, concurrency,
// disk-full, network-fault, corruption and hostile-client scenarios run
// against the built binary. The tests are behind the build tag
// `reliability`; run them with reliability/run.sh (RELIABILITY_SHORT=1 for
// the CI-sized run). See REPORT.md for the figures of the last real run.
package reliability
