//go:build !cgo

package nbd

// The package compiles its C core with cgo: without cgo nothing else of it
// builds, and this line makes the build stop with a message that says why.
var _ = nbd_package_needs_cgo__build_with_CGO_ENABLED_1_and_a_C_compiler
