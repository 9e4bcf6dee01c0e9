# nspicap: build, test and maintenance targets.
GO      ?= go
VERSION ?= $(shell git describe --tags --always --dirty 2>/dev/null || echo dev)
LDFLAGS := -s -w -X main.version=$(VERSION)
FUZZTIME ?= 20s

.PHONY: build test testdata golden fuzz lint cross bench microbench clean

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
