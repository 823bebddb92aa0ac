#!/bin/sh
# mkvariants.sh KIND SEEDDIR OUTDIR
# Copies the raw seed streams of testdata/fuzz/KIND into OUTDIR and adds
# copies prefixed with settings headers (see the input format at the top of
# c/fuzz/fuzz_KIND.c), so the fuzzer starts from chunked / opt-mode /
# extra-command variants too.  Never writes into testdata/.
set -e
kind=$1 seeds=$2 out=$3
mkdir -p "$out"
for f in "$seeds"/*; do
  [ -f "$f" ] || continue
  b=$(basename "$f" .bin)
  cp "$f" "$out/$b.bin"
  case $kind in
    handshake)
      # SR + base:allocation + block size, chunks of 1..7 bytes
      { printf '\046\003\007\052'; cat "$f"; } > "$out/$b.chunked.bin"
      # same settings plus full info, debug callback, 1..3 byte chunks
      { printf '\156\003\003\011'; cat "$f"; } > "$out/$b.full-debug.bin"
      # opt mode (fed byte by byte)
      { printf '\047\043\000\000'; cat "$f"; } > "$out/$b.optmode.bin"
      # opt mode without structured replies: LIST first, then GO
      { printf '\045\137\000\000'; cat "$f"; } > "$out/$b.optmode-list.bin"
      ;;
    reply)
      # structured, two contexts, extra commands, chunks of 1..13 bytes
      { printf '\203\015\005\000'; cat "$f"; } > "$out/$b.extra-chunked.bin"
      # simple replies only, retire in completion, debug, 1..5 byte chunks
      { printf '\114\005\021\000'; cat "$f"; } > "$out/$b.simple-debug.bin"
      # structured, failing callbacks
      { printf '\065\000\000\000'; cat "$f"; } > "$out/$b.failcb.bin"
      ;;
  esac
done
