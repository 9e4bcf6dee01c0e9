package analyze

// EvidenceFile describes the pcapng file of the frames behind the findings
// that `analyze --evidence` wrote (Report.Evidence). The file is not
// redacted.
type EvidenceFile struct {
	Path string `json:"path"`
	// Frames counts the packets written, Handshakes the TCP handshakes
	// among them.
	Frames     int `json:"frames"`
	Handshakes int `json:"handshakes"`
	// Cuts lists the (finding kind, user) whose frames were more than the
	// bound: the first and the last of them were written.
	Cuts []EvidenceCut `json:"cuts"`
}

// EvidenceCut says that Written of the Frames behind the findings of one
// kind and user went into the evidence file.
type EvidenceCut struct {
	Kind    string     `json:"kind"`
	User    NullString `json:"user"`
	Frames  int        `json:"frames"`
	Written int        `json:"written"`
}
