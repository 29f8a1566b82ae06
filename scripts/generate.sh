#!/usr/bin/env bash
# Regenerates Sources/ChatAPI from chat.proto. Needs protoc (Debian's
# protobuf-compiler) and the two Swift plugins, which are built here from the
# swift-protobuf and grpc-swift-protobuf versions Package.swift uses (a first
# build takes several minutes, so the generated code is committed).
set -euo pipefail
cd "$(dirname "$0")/.."

command -v protoc >/dev/null || { echo "protoc is missing: apt-get install protobuf-compiler" >&2; exit 1; }

plugins=${PLUGIN_DIR:-.build/protoc-plugins}
if [ ! -x "$plugins/.build/debug/protoc-gen-grpc-swift-2" ] || [ ! -x "$plugins/.build/debug/protoc-gen-swift" ]; then
  rm -rf "$plugins"
  git clone -q -c advice.detachedHead=false -b 2.4.1 https://github.com/grpc/grpc-swift-protobuf.git "$plugins"
  (cd "$plugins" && swift build --product protoc-gen-grpc-swift-2 && swift build --product protoc-gen-swift)
fi

protoc chat.proto \
  --plugin=protoc-gen-swift="$plugins/.build/debug/protoc-gen-swift" \
  --plugin=protoc-gen-grpc-swift="$plugins/.build/debug/protoc-gen-grpc-swift-2" \
  --swift_out=Sources/ChatAPI --swift_opt=Visibility=Public \
  --grpc-swift_out=Sources/ChatAPI --grpc-swift_opt=Visibility=Public
echo "generated: $(ls Sources/ChatAPI)"
