package kerberos

import "fmt"

// KRB-ERROR codes (RFC 4120 7.5.9) that say something about an account or
// a logon; the others are named by number.
const (
	ErrCPrincipalUnknown int32 = 6
	ErrSPrincipalUnknown int32 = 7
	ErrPolicy            int32 = 12
	ErrClientRevoked     int32 = 18
	ErrKeyExpired        int32 = 23
	ErrPreauthFailed     int32 = 24
	ErrPreauthRequired   int32 = 25
	ErrResponseTooBig    int32 = 52
	ErrSkew              int32 = 37
	ErrTicketExpired     int32 = 32
)

var errorNames = map[int32]string{
	1:                    "KDC_ERR_NAME_EXP",
	2:                    "KDC_ERR_SERVICE_EXP",
	ErrCPrincipalUnknown: "KDC_ERR_C_PRINCIPAL_UNKNOWN",
	ErrSPrincipalUnknown: "KDC_ERR_S_PRINCIPAL_UNKNOWN",
	ErrPolicy:            "KDC_ERR_POLICY",
	13:                   "KDC_ERR_BADOPTION",
	14:                   "KDC_ERR_ETYPE_NOSUPP",
	ErrClientRevoked:     "KDC_ERR_CLIENT_REVOKED",
	20:                   "KDC_ERR_TGT_REVOKED",
	ErrKeyExpired:        "KDC_ERR_KEY_EXPIRED",
	ErrPreauthFailed:     "KDC_ERR_PREAUTH_FAILED",
	ErrPreauthRequired:   "KDC_ERR_PREAUTH_REQUIRED",
	ErrTicketExpired:     "KRB_AP_ERR_TKT_EXPIRED",
	ErrSkew:              "KRB_AP_ERR_SKEW",
	41:                   "KRB_AP_ERR_MODIFIED",
	ErrResponseTooBig:    "KRB_ERR_RESPONSE_TOO_BIG",
	60:                   "KRB_ERR_GENERIC",
}

// meanings say in words what an account-related code means.
var meanings = map[int32]string{
	ErrCPrincipalUnknown: "the client's account does not exist",
	ErrSPrincipalUnknown: "the service principal is unknown to the KDC (SPN missing or duplicated)",
	ErrPolicy:            "the KDC's policy refused the request (logon hours, workstation restrictions)",
	ErrClientRevoked:     "the client's account is disabled, locked out or expired",
	ErrKeyExpired:        "the client's password has expired",
	ErrPreauthFailed:     "wrong password",
	ErrSkew:              "the clocks of the client and the KDC are too far apart",
	ErrTicketExpired:     "the ticket has expired",
}

// ErrorName returns the RFC 4120 name of a KRB-ERROR code, or "error N".
func ErrorName(code int32) string {
	if n, ok := errorNames[code]; ok {
		return n
	}
	return fmt.Sprintf("error %d", code)
}

// ErrorMeaning says what a code means for an account, or "".
func ErrorMeaning(code int32) string { return meanings[code] }

// Routine reports whether a KRB-ERROR is part of a normal exchange, not a
// failure: pre-authentication required (the client's first AS-REQ is
// answered so) and response too big (the client retries over TCP).
func Routine(code int32) bool {
	return code == ErrPreauthRequired || code == ErrResponseTooBig
}
