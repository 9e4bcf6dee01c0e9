package main

import (
	"bytes"
	"encoding/binary"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/nspicap/nspicap/analyze"
	"github.com/nspicap/nspicap/internal/capture"
	"github.com/nspicap/nspicap/internal/testutil"
)

// ngPacket is one Enhanced Packet Block of a pcapng file, as the test's own
// reader of the writer's output sees it.
type ngPacket struct {
	linkType uint16
	time     time.Time
	length   int
	data     []byte
	comments []string
}

// readNG parses a little-endian pcapng file of one section (what the
// evidence writer writes), failing the test on anything unexpected.
func readNG(t *testing.T, b []byte) []ngPacket {
	t.Helper()
	var lts []uint16
	var tsres []uint8
	var out []ngPacket
	for off := 0; off < len(b); {
		if off+12 > len(b) {
			t.Fatalf("block at %d: truncated", off)
		}
		typ := binary.LittleEndian.Uint32(b[off:])
		n := int(binary.LittleEndian.Uint32(b[off+4:]))
		if n < 12 || n%4 != 0 || off+n > len(b) || binary.LittleEndian.Uint32(b[off+n-4:]) != uint32(n) {
			t.Fatalf("block at %d: bad length %d", off, n)
		}
		body := b[off+8 : off+n-4]
		opts := func(o []byte) (comments []string, res uint8) {
			res = 6
			for len(o) >= 4 {
				code, l := binary.LittleEndian.Uint16(o), int(binary.LittleEndian.Uint16(o[2:]))
				if code == 0 {
					break
				}
				if 4+l > len(o) {
					t.Fatalf("block at %d: option %d overruns", off, code)
				}
				v := o[4 : 4+l]
				switch {
				case code == 1:
					comments = append(comments, string(v))
				case code == 9 && typ == 1:
					res = v[0]
				}
				o = o[4+(l+3)/4*4:]
			}
			return
		}
		switch typ {
		case 0x0A0D0D0A:
			if off != 0 || binary.LittleEndian.Uint32(body) != 0x1A2B3C4D {
				t.Fatalf("section header at %d", off)
			}
		case 1:
			lts = append(lts, binary.LittleEndian.Uint16(body))
			_, r := opts(body[8:])
			tsres = append(tsres, r)
		case 6:
			id := binary.LittleEndian.Uint32(body)
			if int(id) >= len(lts) {
				t.Fatalf("packet at %d: interface %d not described", off, id)
			}
			if tsres[id] != 9 {
				t.Fatalf("interface %d: if_tsresol %d, want 9", id, tsres[id])
			}
			ts := uint64(binary.LittleEndian.Uint32(body[4:]))<<32 | uint64(binary.LittleEndian.Uint32(body[8:]))
			capLen := int(binary.LittleEndian.Uint32(body[12:]))
			orig := int(binary.LittleEndian.Uint32(body[16:]))
			data := body[20 : 20+capLen]
			c, _ := opts(body[20+(capLen+3)/4*4:])
			out = append(out, ngPacket{linkType: lts[id], time: time.Unix(0, int64(ts)).UTC(), length: orig, data: data, comments: c})
		default:
			t.Fatalf("block at %d: unexpected type %#x", off, typ)
		}
		off += n
	}
	return out
}

// tsharkEvidence are the captures whose evidence tshark reads in the quick
// suite (tshark starts slowly); NSPICAP_SLOW_TESTS reads every one.
var tsharkEvidence = map[string]bool{"leak-to-limit.pcap": true, "emsmdb-limit.pcap": true, "endpoint-trouble.pcap": true,
	"dead-conn.pcap": true, "ipv6.pcap": true, "sealed-krb-aes.pcap": true}

var originalRE = regexp.MustCompile(`; original (.+) frame (\d+)$`)

type origFrame struct {
	lt     uint16
	time   time.Time
	length int
	data   []byte
	tcp    bool
	flags  uint8
}

func readOriginal(t *testing.T, path string) map[int64]origFrame {
	t.Helper()
	m := map[int64]origFrame{}
	err := capture.ReadFrames(path, func(f *capture.Frame) error {
		m[f.Number] = origFrame{f.LinkType, f.Time.UTC(), f.Length, bytes.Clone(f.Data), f.TCP, f.Flags}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return m
}

// TestEvidence writes the evidence of every sample capture with findings,
// reads it back with the test's own pcapng reader (and tshark when
// installed: a few captures, every one with NSPICAP_SLOW_TESTS), and checks that each packet is the original frame its comment
// names (bytes, time, length, link type), in the original order, that every
// frame a finding cites is there unless the report says its group was cut,
// and that the frames added as handshakes are SYN, SYN/ACK and ACK.
func TestEvidence(t *testing.T) {
	files := captures(t)
	t.Chdir(testdataDir)
	dir := t.TempDir()
	tshark, _ := exec.LookPath("tshark")
	withFindings := 0
	for _, f := range files {
		t.Run(f, func(t *testing.T) {
			ev := filepath.Join(dir, f+".pcapng")
			out, errOut, code := nspicap(t, "analyze", "--format", "json", "--evidence", ev, f)
			if code != exitOK && code != exitFindings {
				t.Fatalf("exit %d: %s", code, errOut)
			}
			var r analyze.Report
			if err := json.Unmarshal([]byte(out), &r); err != nil {
				t.Fatal(err)
			}
			if r.Evidence == nil || r.Evidence.Path != ev {
				t.Fatalf("report's evidence: %+v", r.Evidence)
			}
			b, err := os.ReadFile(ev)
			if err != nil {
				t.Fatal(err)
			}
			pk := readNG(t, b)
			if len(pk) != r.Evidence.Frames {
				t.Fatalf("%d packets in the file, the report says %d", len(pk), r.Evidence.Frames)
			}
			// The project's own reader reads it as it reads captures.
			n := 0
			err = capture.ReadFrames(ev, func(fr *capture.Frame) error {
				if n >= len(pk) || !bytes.Equal(fr.Data, pk[n].data) || !fr.Time.Equal(pk[n].time) || fr.LinkType != pk[n].linkType {
					t.Fatalf("capture.ReadFrames: packet %d differs", n+1)
				}
				n++
				return nil
			})
			if err != nil || n != len(pk) {
				t.Fatalf("capture.ReadFrames: %d packets of %d, %v", n, len(pk), err)
			}
			if len(r.Findings) == 0 {
				if len(pk) != 0 {
					t.Fatalf("%d packets without findings", len(pk))
				}
				return
			}
			withFindings++
			orig := readOriginal(t, f)
			got := map[int64]bool{}
			cited := map[int64]bool{}
			for _, x := range r.Findings {
				for _, fr := range x.Frames {
					cited[fr.Frame] = true
				}
			}
			last, hs := int64(0), 0
			for i, p := range pk {
				if len(p.comments) != 1 {
					t.Fatalf("packet %d: %d comments", i+1, len(p.comments))
				}
				c := p.comments[0]
				m := originalRE.FindStringSubmatch(c)
				if m == nil || m[1] != f {
					t.Fatalf("packet %d: comment %q names no frame of %s", i+1, c, f)
				}
				n, _ := strconv.ParseInt(m[2], 10, 64)
				o, ok := orig[n]
				if !ok {
					t.Fatalf("packet %d: frame %d not in %s", i+1, n, f)
				}
				if n <= last {
					t.Fatalf("packet %d: frame %d after frame %d", i+1, n, last)
				}
				last = n
				got[n] = true
				if !bytes.Equal(p.data, o.data) || !p.time.Equal(o.time) || p.length != o.length || p.linkType != o.lt {
					t.Fatalf("packet %d differs from frame %d: time %v/%v len %d/%d lt %d/%d", i+1, n, p.time, o.time, p.length, o.length, p.linkType, o.lt)
				}
				kindOK := false
				for _, x := range r.Findings {
					if strings.Contains(c, x.Kind+" ("+x.Severity+")") {
						kindOK = true
					}
				}
				if !kindOK {
					t.Fatalf("packet %d: comment %q names no finding of the report", i+1, c)
				}
				if strings.Contains(c, "cited by the finding") && !cited[n] {
					t.Fatalf("packet %d: frame %d said cited, but no finding cites it", i+1, n)
				}
				if strings.Contains(c, "TCP handshake") {
					hs++
					if !o.tcp || o.flags&(capture.TCPFlagSYN|capture.TCPFlagACK) == 0 || o.flags&(capture.TCPFlagFIN|capture.TCPFlagRST) != 0 {
						t.Fatalf("packet %d: frame %d is no handshake packet (flags %#x)", i+1, n, o.flags)
					}
				}
			}
			if hs != r.Evidence.Handshakes {
				t.Fatalf("%d handshake packets, the report says %d", hs, r.Evidence.Handshakes)
			}
			for _, x := range r.Findings {
				cut := false
				for _, c := range r.Evidence.Cuts {
					cut = cut || c.Kind == x.Kind && c.User == x.User
				}
				for _, fr := range x.Frames {
					if !got[fr.Frame] && !cut {
						t.Fatalf("%s: frame %d cited but not in the evidence", x.Kind, fr.Frame)
					}
				}
			}
			if tshark == "" || !testutil.Slow() && !tsharkEvidence[f] {
				return
			}
			cmd := exec.Command(tshark, "-r", ev, "-T", "fields", "-e", "frame.comment")
			tout, err := cmd.Output()
			if err != nil {
				t.Fatalf("tshark: %v", err)
			}
			lines := strings.Split(strings.TrimSuffix(string(tout), "\n"), "\n")
			if len(lines) != len(pk) {
				t.Fatalf("tshark reads %d packets, want %d", len(lines), len(pk))
			}
			for i, l := range lines {
				if l != pk[i].comments[0] {
					t.Fatalf("tshark packet %d: comment %q, want %q", i+1, l, pk[i].comments[0])
				}
			}
		})
	}
	if withFindings < 5 {
		t.Fatalf("only %d sample captures with findings", withFindings)
	}
}

// TestEvidenceCut checks the bound on leak-to-limit: the leak of
// CONTOSO\svc-crm has more frames than the bound, and the report says so in
// JSON and text.
func TestEvidenceCut(t *testing.T) {
	t.Chdir(testdataDir)
	ev := filepath.Join(t.TempDir(), "ev.pcapng")
	out, errOut, code := nspicap(t, "analyze", "--evidence", ev, "leak-to-limit.pcap")
	if code != exitOK {
		t.Fatalf("exit %d: %s", code, errOut)
	}
	if !strings.Contains(out, "EVIDENCE\n  "+ev) || !strings.Contains(out, `cut: leak of CONTOSO\svc-crm: the first 25 and the last 25 of`) {
		t.Fatalf("text report does not tell the cut:\n%s", out)
	}
	b, _ := os.ReadFile(ev)
	n := 0
	for _, p := range readNG(t, b) {
		c := p.comments[0]
		if strings.Contains(c, "leak (error)") && !strings.Contains(c, "TCP handshake") {
			n++
		}
	}
	if n != 50 {
		t.Fatalf("%d leak frames written, want 50", n)
	}
}

// TestEvidenceStdin: the evidence needs files, never one of the inputs,
// and a place it can be written.
func TestEvidenceStdin(t *testing.T) {
	ev := filepath.Join(t.TempDir(), "ev.pcapng")
	_, errOut, code := nspicap(t, "analyze", "--evidence", ev, "-")
	if code != exitUsage || !strings.Contains(errOut, "--evidence needs capture files") {
		t.Fatalf("exit %d: %s", code, errOut)
	}
	if _, err := os.Stat(ev); err == nil {
		t.Fatal("evidence file written")
	}
	in := filepath.Join(testdataDir, "leak-to-limit.pcap")
	before, _ := os.ReadFile(in)
	_, errOut, code = nspicap(t, "analyze", "--evidence", in, in)
	if after, _ := os.ReadFile(in); code != exitUsage || !strings.Contains(errOut, "is one of the inputs") || !bytes.Equal(before, after) {
		t.Fatalf("evidence over an input: exit %d: %s", code, errOut)
	}
	_, errOut, code = nspicap(t, "analyze", "--evidence", filepath.Join(t.TempDir(), "no", "dir", "ev.pcapng"), in)
	if code != exitInput || !strings.Contains(errOut, "--evidence") {
		t.Fatalf("unwritable evidence: exit %d: %s", code, errOut)
	}
}

// TestEvidenceRedact: with --redact the report is redacted, the evidence
// file is the same as without, and a warning says so.
func TestEvidenceRedact(t *testing.T) {
	t.Chdir(testdataDir)
	dir := t.TempDir()
	plain, red := filepath.Join(dir, "plain.pcapng"), filepath.Join(dir, "red.pcapng")
	if _, e, code := nspicap(t, "analyze", "--evidence", plain, "leak-to-limit.pcap"); code != exitOK || strings.Contains(e, "not redacted") {
		t.Fatalf("exit %d: %s", code, e)
	}
	out, e, code := nspicap(t, "analyze", "--redact", "--evidence", red, "leak-to-limit.pcap")
	if code != exitOK || !strings.Contains(e, "warning: the evidence file "+red+" is not redacted") {
		t.Fatalf("exit %d, no warning: %s", code, e)
	}
	if strings.Contains(out, "svc-crm") || !strings.Contains(out, "EVIDENCE") {
		t.Fatalf("report not redacted, or without its evidence section:\n%s", out)
	}
	a, _ := os.ReadFile(plain)
	b, _ := os.ReadFile(red)
	if len(a) == 0 || !bytes.Equal(a, b) {
		t.Fatal("the evidence file differs with --redact")
	}
}
