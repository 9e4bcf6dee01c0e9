# nspicap: build, test and maintenance targets.
GO      ?= go
VERSION ?= $(shell git describe --tags --always --dirty 2>/dev/null || echo dev)
LDFLAGS := -s -w -X main.version=$(VERSION)
FUZZTIME ?= 20s

.PHONY: build test testdata golden fuzz lint cross dist bench microbench clean

build:
	CGO_ENABLED=0 $(GO) build -trimpath -ldflags '$(LDFLAGS)' -o nspicap ./cmd/nspicap

test:
	$(GO) test ./...

# Regenerate the sample captures in testdata/ from their generator.
testdata:
	$(GO) run ./testdata/gen -out testdata

# Refresh the golden outputs after a deliberate change of output.
golden:
	$(GO) test ./cmd/nspicap/ ./internal/report/ -update

# A short run of every fuzz target (make fuzz FUZZTIME=10m for a long one).
fuzz:
	$(GO) test ./dcerpc/ -run '^$$' -fuzz '^FuzzParsePDU$$' -fuzztime $(FUZZTIME) -fuzzminimizetime 5s
	$(GO) test ./dcerpc/ -run '^$$' -fuzz '^FuzzConnFeed$$' -fuzztime $(FUZZTIME) -fuzzminimizetime 5s
	$(GO) test ./dcerpc/ndr/ -run '^$$' -fuzz '^FuzzReader$$' -fuzztime $(FUZZTIME) -fuzzminimizetime 5s
	$(GO) test ./nspi/ -run '^$$' -fuzz '^FuzzDecode$$' -fuzztime $(FUZZTIME) -fuzzminimizetime 5s
	$(GO) test ./epm/ -run '^$$' -fuzz '^FuzzDecode$$' -fuzztime $(FUZZTIME) -fuzzminimizetime 5s
	$(GO) test ./ntlmssp/ -run '^$$' -fuzz '^FuzzInspect$$' -fuzztime $(FUZZTIME) -fuzzminimizetime 5s
	$(GO) test ./internal/unseal/ -run '^$$' -fuzz '^FuzzKerberosUnseal$$' -fuzztime $(FUZZTIME) -fuzzminimizetime 5s
	$(GO) test ./internal/keys/ -run '^$$' -fuzz '^FuzzKeysFile$$' -fuzztime $(FUZZTIME) -fuzzminimizetime 5s
	$(GO) test ./internal/keys/ -run '^$$' -fuzz '^FuzzKeytab$$' -fuzztime $(FUZZTIME) -fuzzminimizetime 5s
	$(GO) test ./internal/capture/ -run '^$$' -fuzz '^FuzzRun$$' -fuzztime $(FUZZTIME) -fuzzminimizetime 5s
	$(GO) test ./internal/capture/ -run '^$$' -fuzz '^FuzzPcapng$$' -fuzztime $(FUZZTIME) -fuzzminimizetime 5s
	$(GO) test ./cmd/nspicap/ -run '^$$' -fuzz '^FuzzPipeline$$' -fuzztime $(FUZZTIME) -fuzzminimizetime 5s

lint:
	@test -z "$$(gofmt -l $$(git ls-files '*.go'))" || (gofmt -l $$(git ls-files '*.go'); echo 'gofmt: files above need formatting'; exit 1)
	$(GO) vet ./...

# The binary must build without cgo for every platform users run it on.
cross:
	CGO_ENABLED=0 GOOS=windows GOARCH=amd64 $(GO) build -o /dev/null ./cmd/nspicap
	CGO_ENABLED=0 GOOS=darwin GOARCH=arm64 $(GO) build -o /dev/null ./cmd/nspicap
	CGO_ENABLED=0 GOOS=linux GOARCH=amd64 $(GO) build -o /dev/null ./cmd/nspicap

# Release binaries for people without Go: static (no cgo), built without
# local paths (-trimpath), the version stamped (nspicap version), in dist/
# (git-ignored) with their SHA-256 list: check with
# cd dist && sha256sum -c SHA256SUMS.
DIST_PLATFORMS := windows/amd64 linux/amd64 linux/arm64 darwin/arm64

dist:
	rm -rf dist && mkdir dist
	set -e; for p in $(DIST_PLATFORMS); do \
		os=$${p%/*}; arch=$${p#*/}; ext=; [ $$os = windows ] && ext=.exe; \
		echo "dist/nspicap-$(VERSION)-$$os-$$arch$$ext"; \
		CGO_ENABLED=0 GOOS=$$os GOARCH=$$arch $(GO) build -trimpath -ldflags '$(LDFLAGS)' \
			-o dist/nspicap-$(VERSION)-$$os-$$arch$$ext ./cmd/nspicap; \
	done
	cd dist && if command -v sha256sum >/dev/null; then sha256sum nspicap-*; else shasum -a 256 nspicap-*; fi > SHA256SUMS

# Generates the benchmark captures once (in .bench/, git-ignored), runs
# nspicap and the baseline reader on them and prints the table. BENCHFLAGS=-quick
# for a small smoke run.
bench:
	$(GO) run ./internal/bench $(BENCHFLAGS)

# The Go micro-benchmarks of the hot paths, with allocations.
microbench:
	$(GO) test ./... -run '^$$' -bench . -benchmem

clean:
	rm -f nspicap nspicap.exe
	rm -rf dist
