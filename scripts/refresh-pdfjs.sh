#!/usr/bin/env bash
# Vendor pdf.js (the pdfjs-dist npm package) into annotator/static/vendor/pdfjs-VERSION/.
#
#   scripts/refresh-pdfjs.sh 6.5.438
#
# Keeps only what the coding page's viewer (annotator/static/pdf-viewer.js) loads: the
# library and its worker (minified, no source maps), the CMaps (Chinese and other CID fonts
# that are not embedded), the standard fonts, the ICC profile and the WebAssembly image
# decoders (JBIG2, JPEG 2000, colour management), with their licences. Left out: the
# viewer app (web/), the legacy build, type definitions, the scripting sandbox (QuickJS:
# the viewer never runs a PDF's JavaScript) and the decoders' no-WebAssembly fallbacks.
# Removes the folders of other versions; remember to update the version in
# annotator/templates/_pdf_viewer.html and annotator/static/vendor/README.md.
set -euo pipefail

version="${1:?usage: $0 VERSION (e.g. 6.5.438)}"
root="$(cd "$(dirname "$0")/.." && pwd)"
vendor="$root/annotator/static/vendor"
target="$vendor/pdfjs-$version"
scratch="$(mktemp -d)"
trap 'rm -rf "$scratch"' EXIT

# npm pack checks the tarball against the integrity (sha512) the registry lists for the
# version and refuses a mismatch; we compare the two again so the log shows the hash.
expected="$(npm view "pdfjs-dist@$version" dist.integrity)"
(cd "$scratch" && npm pack --silent --json "pdfjs-dist@$version" >pack.json)
actual="$(node -e 'console.log(require(process.argv[1])[0].integrity)' "$scratch/pack.json")"
local_hash="sha512-$(openssl dgst -sha512 -binary "$scratch/pdfjs-dist-$version.tgz" | base64 -w0)"
if [ "$expected" != "$actual" ] || [ "$expected" != "$local_hash" ]; then
  echo "integrity mismatch: registry $expected, npm pack $actual, file $local_hash" >&2
  exit 1
fi
echo "pdfjs-dist@$version: $expected"
tar -xzf "$scratch/pdfjs-dist-$version.tgz" -C "$scratch"
package="$scratch/package"

stage="$scratch/pdfjs-$version"
mkdir -p "$stage/build" "$stage/wasm"
cp "$package/LICENSE" "$stage/"
cp "$package/build/pdf.min.mjs" "$package/build/pdf.worker.min.mjs" "$stage/build/"
cp -r "$package/cmaps" "$package/standard_fonts" "$package/iccs" "$stage/"
for name in jbig2.wasm openjpeg.wasm qcms_bg.wasm; do
  cp "$package/wasm/$name" "$stage/wasm/"
done
cp "$package"/wasm/LICENSE_{JBIG2,OPENJPEG,QCMS,PDFJS_JBIG2,PDFJS_OPENJPEG,PDFJS_QCMS} "$stage/wasm/"

mkdir -p "$vendor"
find "$vendor" -maxdepth 1 -type d -name 'pdfjs-*' -exec rm -rf {} +
mv "$stage" "$target"
du -sh "$target"
