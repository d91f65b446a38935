# What the tests need comes from the Go module proxy (buf and the protoc
# plugins are Go tools pinned in tools/go.mod), Debian (chromium, clang,
# lld, wasi-libc, wabt) and npm (playwright-core, pinned in
# internal/testing/chromium/package-lock.json); scripts/test-deps.sh installs them.
BUF := go tool -modfile=tools/go.mod buf
STATICCHECK := go tool -modfile=tools/go.mod staticcheck

.PHONY: test check unit test-deps generate lint build release bench fuzz soak clean

## test: the whole CI suite (what .ci/run runs)
test: check unit

## check: formatting, vet, staticcheck, tidy modules, proto lint, generated code up to date
check:
	@out=$$(gofmt -l $$(git ls-files '*.go')); if [ -n "$$out" ]; then echo "gofmt needed:"; echo "$$out"; exit 1; fi
	go vet ./...
	go vet -tags wasmer ./dataplane/... ./server/...
	go vet -tags wasmtime ./dataplane/... ./server/...
	$(STATICCHECK) ./...
	$(STATICCHECK) -tags wasmer ./dataplane/... ./server/...
	$(STATICCHECK) -tags wasmtime ./dataplane/... ./server/...
	go mod tidy -diff
	cd tools && go mod tidy -diff
	$(BUF) lint
	$(BUF) generate
	@git diff --exit-code -- proto || (echo "generated code is stale: run make generate and commit"; exit 1)
	@test -z "$$(git status --porcelain -- proto)" || (echo "buf generate left untracked files in proto/"; git status --porcelain -- proto; exit 1)

## unit: every test, with the race detector (after compiling the test
## guests into the shared cache without it), then the maximal-state sync
## without it (10,000 writes take minutes under -race); the engine suite and a worker
## once more on each cgo engine (wasmer, wasmtime: one per binary, as both
## libraries define the C API of wasm.h)
unit: test-deps
	go test -count=1 -run '^TestPrewarm$$' ./internal/testing/guests -args -prewarm
	go test -race -count=1 -timeout 20m ./...
	go test -count=1 -run '^TestMaximalStateSyncsToAFreshWorker$$' ./internal/systemtest
	go test -race -count=1 -tags wasmer ./dataplane/engine/wasmerengine
	go test -race -count=1 -tags wasmer -run TestWorkerOnEveryEngine ./internal/systemtest
	go test -race -count=1 -tags wasmtime ./dataplane/engine/wasmtimeengine
	go test -race -count=1 -tags wasmtime -run TestWorkerOnEveryEngine ./internal/systemtest

## test-deps: Chromium and playwright-core (browser tests), clang and wasi-libc (a C handler)
test-deps:
	scripts/test-deps.sh

## generate: regenerate the protobuf code
generate:
	$(BUF) generate

lint:
	$(BUF) lint

## build: the nanoedge binary, static
build:
	CGO_ENABLED=0 go build -trimpath -o bin/nanoedge ./cmd/nanoedge

## release: static binaries for linux/amd64 and linux/arm64 in dist/,
## with SHA256SUMS; reproducible (same commit, same bytes)
release:
	scripts/release.sh dist

## bench: Go benchmarks and the load harness (see docs/benchmarks.md)
bench: test-deps
	go run ./bench/wrk
	go run ./bench/fanout -streams 10000
	go test -run '^$$' -bench BenchmarkWorkerRestart -benchtime 2x ./internal/systemtest
	go test -run '^$$' -bench . -benchtime 2000x ./dataplane/...
	go test -run '^$$' -bench . ./registry
	go run ./bench/load
	go test -tags wasmer -run '^$$' -bench BenchmarkEngine ./dataplane/engine/wasmerengine
	go run -tags wasmer ./bench/load -engine wasmer
	go test -tags wasmtime -run '^$$' -bench BenchmarkEngine ./dataplane/engine/wasmtimeengine
	go run -tags wasmtime ./bench/load -engine wasmtime
	go run -tags wasmtime ./bench/load -engine wasmtime -pre-initialize

## soak: the randomized fault test over many seeds (CI runs two)
soak:
	NANOEDGE_LINEARIZABILITY_SEEDS=25 go test -race -count=1 -timeout 60m -run TestLinearizableUnderFaults -v ./registry

clean:
	rm -rf bin dist .nanoedge

## fuzz: run every fuzz target for FUZZTIME each (seed corpora run in make test)
FUZZTIME ?= 30s
fuzz:
	go test -run '^$$' -fuzz '^FuzzApply$$' -fuzztime $(FUZZTIME) ./registry
	go test -run '^$$' -fuzz '^FuzzDecodeRequest$$' -fuzztime $(FUZZTIME) ./sdk/abi
	go test -run '^$$' -fuzz '^FuzzDecodeResponse$$' -fuzztime $(FUZZTIME) ./sdk/abi
	go test -run '^$$' -fuzz '^FuzzServe$$' -fuzztime $(FUZZTIME) ./sdk/guest
	go test -run '^$$' -fuzz '^FuzzLookup$$' -fuzztime $(FUZZTIME) ./dataplane
	go test -run '^$$' -fuzz '^FuzzValidate$$' -fuzztime $(FUZZTIME) ./dataplane/engine/wazeroengine
	go test -run '^$$' -fuzz '^FuzzParseSignature$$' -fuzztime $(FUZZTIME) ./sdk/signing
	go test -run '^$$' -fuzz '^FuzzParsePublicKey$$' -fuzztime $(FUZZTIME) ./sdk/signing
	go test -run '^$$' -fuzz '^FuzzInstrument$$' -fuzztime $(FUZZTIME) ./dataplane/engine/internal/rewrite
