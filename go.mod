module github.com/nbd-cleanroom/libnbd

go 1.21
