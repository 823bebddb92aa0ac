package nbd

//go:generate go run ./internal/gencore -lib ../c/lib -out .
