package auth

import (
	"context"
	"errors"
	"fmt"
	"os"
	"slices"
	"strings"
)

// PasswordFile authenticates clients against a Mosquitto password file:
// one "username:hash" line per user, hashes in $7$ (PBKDF2-SHA512) or $6$
// (SHA-512) form as mosquitto_passwd and mast passwd write them; lines
// starting with # and blank lines are ignored.
//
// A PasswordFile never changes after loading, so it is safe for concurrent
// use; to reload, load a new one and swap it in whole.
type PasswordFile struct {
	file  string
	users map[string]Hash
	dummy Hash // verified for unknown users, so timing does not tell them apart
}

// blanks are what Mosquitto trims around fields (C's isspace, less '\n').
const blanks = " \t\r\v\f"

// LoadPasswordFile reads and parses the password file at path.
func LoadPasswordFile(path string) (*PasswordFile, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("auth: password file: %w", err)
	}
	return ParsePasswordFile(path, data)
}

// ParsePasswordFile parses the contents of a password file; name is used
// in errors. It is stricter than Mosquitto, which skips or drops bad lines
// with a log message: here every bad line is an error naming the line, so
// that no user silently loses access. Plain-text passwords are refused
// (hash them with mast passwd -U).
func ParsePasswordFile(name string, data []byte) (*PasswordFile, error) {
	p := &PasswordFile{file: name, users: make(map[string]Hash)}
	where := make(map[string]int)
	for i, line := range strings.Split(string(data), "\n") {
		n := i + 1
		fail := func(format string, args ...any) (*PasswordFile, error) {
			return nil, &FileError{File: name, Line: n, Err: fmt.Errorf(format, args...)}
		}
		if t := strings.TrimLeft(line, blanks); t == "" || t[0] == '#' {
			continue
		}
		user, hash, ok := strings.Cut(line, ":")
		if !ok {
			return fail("want username:hash, found no ':'")
		}
		user = strings.Trim(user, blanks)
		hash = strings.Trim(hash, blanks)
		if user == "" {
			return fail("empty user name")
		}
		if strings.Contains(hash, ":") {
			return fail("user %q: unexpected ':' after the hash", user)
		}
		if prev, dup := where[user]; dup {
			return fail("user %q is already defined on line %d", user, prev)
		}
		h, err := ParseHash(hash)
		if err != nil {
			if errors.Is(err, ErrInvalidHash) && (hash == "" || hash[0] != '$') {
				return fail("user %q: password is not hashed (hash the file with mast passwd -U)", user)
			}
			return fail("user %q: %w", user, err)
		}
		p.users[user] = h
		where[user] = n
		if p.dummy.kind == 0 || h.kind == '7' && p.dummy.kind != '7' {
			p.dummy = Hash{kind: h.kind, iterations: h.iterations, salt: make([]byte, saltLen), sum: make([]byte, sumLen)}
		}
	}
	if p.dummy.kind == 0 {
		p.dummy = Hash{kind: '7', iterations: DefaultIterations, salt: make([]byte, saltLen), sum: make([]byte, sumLen)}
	}
	return p, nil
}

// Authenticate checks the client's user name and password. A client
// without a user name gets ErrNotAuthorized (the file knows no anonymous
// user: let anonymous clients in before asking, see AllowAnonymous); an
// unknown user, a missing or a wrong password all get ErrBadCredentials,
// after the same amount of work, so a client cannot tell which.
func (p *PasswordFile) Authenticate(_ context.Context, c *Client) error {
	if !c.HasUsername {
		return ErrNotAuthorized
	}
	h, ok := p.users[c.Username]
	if !ok || !c.HasPassword {
		p.dummy.Verify(c.Password)
		return ErrBadCredentials
	}
	if !h.Verify(c.Password) {
		return ErrBadCredentials
	}
	return nil
}

// File returns the name the file was loaded from.
func (p *PasswordFile) File() string { return p.file }

// Users returns the user names in the file, sorted.
func (p *PasswordFile) Users() []string {
	users := make([]string, 0, len(p.users))
	for u := range p.users {
		users = append(users, u)
	}
	slices.Sort(users)
	return users
}

// AllowAnonymous returns an Authenticator that lets a client without a
// user name in and asks next about every other client: Mosquitto's
// allow_anonymous true beside a password file. A client that sends a user
// name must still pass next, as in Mosquitto.
func AllowAnonymous(next Authenticator) Authenticator { return anonymousOr{next} }

type anonymousOr struct{ next Authenticator }

func (a anonymousOr) Authenticate(ctx context.Context, c *Client) error {
	if !c.HasUsername {
		return nil
	}
	return a.next.Authenticate(ctx, c)
}
