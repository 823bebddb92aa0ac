// Package include holds libnbd.h, the C API's header. It has no Go code;
// the Go packages that compile against the header import it so that
// "go mod vendor" copies the header into a vendor tree.
package include
