package nbd

// EmbeddedCore is true unless built with -tags libnbd_system.
const EmbeddedCore = embeddedCore
