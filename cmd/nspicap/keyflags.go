package main

import (
	"fmt"
	"io"

	"github.com/spf13/pflag"

	"github.com/nspicap/nspicap/analyze"
	"github.com/nspicap/nspicap/internal/keys"
	"github.com/nspicap/nspicap/internal/pipeline"
	"github.com/nspicap/nspicap/internal/safetext"
)

// keyFlags are --keys and --keytab: files of key material, never key
// material itself on the command line (README, "Sealed traffic").
type keyFlags struct {
	keys, keytabs []string
}

func addKeyFlags(fs *pflag.FlagSet) *keyFlags {
	k := &keyFlags{}
	fs.StringArrayVar(&k.keys, "keys", nil, `file of NTLM keys, one "DOMAIN\user:password" or "DOMAIN\user:nt:<32 hex digits>" per line, to decrypt sealed calls (repeatable)`)
	fs.StringArrayVar(&k.keytabs, "keytab", nil, "MIT keytab with Kerberos service keys (its RC4-HMAC entries serve as NT hashes too) (repeatable)")
	return k
}

// load reads the key files into lim, printing their warnings (bad lines,
// loose permissions). A file that cannot be read is a usage error. No
// message quotes key material.
func (k *keyFlags) load(lim *limitFlags, stderr io.Writer) error {
	if len(k.keys) == 0 && len(k.keytabs) == 0 {
		return nil
	}
	s := &keys.Store{}
	for _, f := range k.keys {
		ws, err := s.LoadKeysFile(f)
		for _, w := range ws {
			fmt.Fprintf(stderr, "nspicap: warning: %s\n", safetext.Line(w))
		}
		if err != nil {
			return &usageError{err.Error()}
		}
	}
	for _, f := range k.keytabs {
		if err := s.LoadKeytab(f); err != nil {
			return &usageError{err.Error()}
		}
	}
	lim.keys = s
	return nil
}

// printKeyWarnings prints one line per identity whose calls stay sealed
// (the identity escaped: it comes from the wire).
func printKeyWarnings(res *pipeline.Result, stderr io.Writer) {
	for _, w := range res.KeyWarnings {
		fmt.Fprintf(stderr, "nspicap: warning: %s\n", safetext.Line(w))
	}
}

// keyAnomaly puts the same lines in the report, as one anomaly marked as a
// notice.
func keyAnomaly(res *pipeline.Result, a *analyze.Analyzer) {
	if len(res.KeyWarnings) == 0 {
		return
	}
	msg := ""
	for i, w := range res.KeyWarnings {
		if i > 0 {
			msg += "; "
		}
		msg += w
	}
	// A notice, not a decoding anomaly: the calls were read, and stay
	// sealed (the sealed_calls finding counts them).
	a.AddAnomaly(analyze.Anomaly{Kind: pipeline.AnomalySealedNotDecrypted, Count: int64(len(res.KeyWarnings)), Message: msg, Notice: true})
}
