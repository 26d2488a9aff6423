package auth

import (
	"crypto/pbkdf2"
	"crypto/rand"
	"crypto/sha512"
	"crypto/subtle"
	"encoding/base64"
	"errors"
	"fmt"
	"math"
	"strconv"
	"strings"
)

// Hash algorithms, named as mosquitto_passwd -H names them.
const (
	// AlgSHA512PBKDF2 is PBKDF2-HMAC-SHA512, written as
	// $7$iterations$salt$hash: Mosquitto 2's default.
	AlgSHA512PBKDF2 = "sha512-pbkdf2"
	// AlgSHA512 is one SHA-512 over password then salt, written as
	// $6$salt$hash: what Mosquitto 1.6 and earlier wrote. Weak; read it,
	// write it only when a Mosquitto 1.x must share the file.
	AlgSHA512 = "sha512"
)

// DefaultIterations is the PBKDF2 iteration count mosquitto_passwd 2.0
// writes (PW_DEFAULT_ITERATIONS), so that files written by mast and by
// Mosquitto are alike. The count is stored in each hash: a file may mix
// counts, and a higher one (mast passwd -I) is read by both brokers.
const DefaultIterations = 101

const (
	saltLen    = 12 // what mosquitto_passwd 2.0 writes
	bigSaltLen = 64 // what Mosquitto 2.1 writes; also accepted by it
	sumLen     = sha512.Size
)

// ErrInvalidHash is wrapped by ParseHash's errors.
var ErrInvalidHash = errors.New("invalid password hash")

// Hash is one password hash as a Mosquitto password file stores it.
// Its zero value matches no password.
type Hash struct {
	kind       byte // '6' or '7'
	iterations int
	salt, sum  []byte
}

// NewHash hashes password with a fresh random salt. alg is AlgSHA512PBKDF2
// (or "" for it) or AlgSHA512; iterations applies to PBKDF2, 0 meaning
// DefaultIterations.
func NewHash(password []byte, alg string, iterations int) (Hash, error) {
	h := Hash{salt: make([]byte, saltLen)}
	switch alg {
	case "", AlgSHA512PBKDF2:
		h.kind = '7'
		if iterations == 0 {
			iterations = DefaultIterations
		}
		if iterations < 1 || iterations > math.MaxInt32 {
			return Hash{}, fmt.Errorf("auth: iterations %d out of range 1..%d", iterations, math.MaxInt32)
		}
		h.iterations = iterations
	case AlgSHA512:
		h.kind = '6'
	default:
		return Hash{}, fmt.Errorf("auth: unknown hash algorithm %q (want %s or %s)", alg, AlgSHA512PBKDF2, AlgSHA512)
	}
	if _, err := rand.Read(h.salt); err != nil {
		return Hash{}, fmt.Errorf("auth: salt: %w", err)
	}
	sum, err := h.digest(password)
	if err != nil {
		return Hash{}, err
	}
	h.sum = sum
	return h, nil
}

// ParseHash reads a hash in Mosquitto's text form: $7$iterations$salt$hash
// or $6$salt$hash, salt and hash in standard base64. The error never
// repeats the text.
func ParseHash(s string) (Hash, error) {
	bad := func(why string) (Hash, error) {
		return Hash{}, fmt.Errorf("%w: %s", ErrInvalidHash, why)
	}
	var h Hash
	switch {
	case strings.HasPrefix(s, "$7$"):
		h.kind = '7'
		s = s[3:]
		i := strings.IndexByte(s, '$')
		if i < 0 {
			return bad("missing iteration count")
		}
		n, err := strconv.Atoi(s[:i])
		if err != nil || n < 1 || n > math.MaxInt32 || s[0] == '+' {
			return bad("bad iteration count")
		}
		h.iterations = n
		s = s[i+1:]
	case strings.HasPrefix(s, "$6$"):
		h.kind = '6'
		s = s[3:]
	case s == "" || s[0] != '$':
		return bad("not hashed (plain text?)")
	default:
		return bad("unknown hash type (want $6$ or $7$)")
	}
	salt64, sum64, ok := strings.Cut(s, "$")
	if !ok {
		return bad("missing hash")
	}
	salt, err := decode64(salt64)
	if err != nil || (len(salt) != saltLen && len(salt) != bigSaltLen) {
		return bad("bad salt")
	}
	sum, err := decode64(sum64)
	if err != nil || len(sum) != sumLen {
		return bad("bad hash")
	}
	h.salt, h.sum = salt, sum
	return h, nil
}

// decode64 reads standard base64, padded as Mosquitto writes it or not.
func decode64(s string) ([]byte, error) {
	if b, err := base64.StdEncoding.Strict().DecodeString(s); err == nil {
		return b, nil
	}
	return base64.RawStdEncoding.Strict().DecodeString(s)
}

// Verify tells whether password is the one hashed, in time that does not
// depend on how much of the hash matches.
func (h Hash) Verify(password []byte) bool {
	if h.kind == 0 {
		return false
	}
	sum, err := h.digest(password)
	if err != nil {
		return false
	}
	return subtle.ConstantTimeCompare(sum, h.sum) == 1
}

func (h Hash) digest(password []byte) ([]byte, error) {
	switch h.kind {
	case '7':
		sum, err := pbkdf2.Key(sha512.New, string(password), h.salt, h.iterations, sumLen)
		if err != nil {
			return nil, fmt.Errorf("auth: pbkdf2: %w", err)
		}
		return sum, nil
	case '6':
		d := sha512.New()
		d.Write(password)
		d.Write(h.salt)
		return d.Sum(nil), nil
	}
	return nil, ErrInvalidHash
}

// String returns the hash in Mosquitto's text form.
func (h Hash) String() string {
	salt := base64.StdEncoding.EncodeToString(h.salt)
	sum := base64.StdEncoding.EncodeToString(h.sum)
	switch h.kind {
	case '7':
		return "$7$" + strconv.Itoa(h.iterations) + "$" + salt + "$" + sum
	case '6':
		return "$6$" + salt + "$" + sum
	}
	return ""
}

// Algorithm returns AlgSHA512PBKDF2 or AlgSHA512, or "" for the zero Hash.
func (h Hash) Algorithm() string {
	switch h.kind {
	case '7':
		return AlgSHA512PBKDF2
	case '6':
		return AlgSHA512
	}
	return ""
}

// Iterations returns the PBKDF2 iteration count, 0 for $6$.
func (h Hash) Iterations() int { return h.iterations }
