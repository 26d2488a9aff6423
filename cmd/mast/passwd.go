package main

import (
	"bufio"
	"errors"
	"flag"
	"fmt"
	"io"
	"math"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"unicode/utf8"

	"golang.org/x/term"

	"github.com/mastmq/mast/auth"
)

const passwdUsage = `usage: mast passwd [-H sha512-pbkdf2|sha512] [-I iterations] [-c | -D] passwordfile username
       mast passwd [-H sha512-pbkdf2|sha512] [-I iterations] [-c] -b passwordfile username password
       mast passwd [-H ...] [-I iterations] -U passwordfile

Create or edit a password file in Mosquitto's format, as mosquitto_passwd
does; mast and Mosquitto both read it. Without -b the password is asked
for twice, without echo (or read as two lines when standard input is not
a terminal).

  -b  take the password from the command line (it shows in ps and in the
      shell's history: for scripts only)
  -c  create the file, overwriting any existing one
  -D  delete the user
  -U  hash every plain-text password in the file (hashes are kept as they are)
  -H  hash algorithm: sha512-pbkdf2 ($7$, the default) or sha512 ($6$, for
      Mosquitto 1.x only)
  -I  PBKDF2 iterations (default 101, as mosquitto_passwd writes)
`

func runPasswd(args []string, stdout, stderr io.Writer) int {
	return passwd(args, os.Stdin, stdout, stderr)
}

// passwd is runPasswd with its standard input given, for tests.
func passwd(args []string, stdin io.Reader, _, stderr io.Writer) int {
	fs := flag.NewFlagSet("mast passwd", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() { fmt.Fprint(stderr, passwdUsage) }
	create := fs.Bool("c", false, "")
	del := fs.Bool("D", false, "")
	batch := fs.Bool("b", false, "")
	upgrade := fs.Bool("U", false, "")
	alg := fs.String("H", auth.AlgSHA512PBKDF2, "")
	iter := fs.Int("I", auth.DefaultIterations, "")
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return 0
		}
		return 2
	}
	usage := func(msg string) int {
		fmt.Fprintln(stderr, "mast passwd: "+msg)
		fs.Usage()
		return 2
	}
	fail := func(err error) int {
		fmt.Fprintln(stderr, "mast passwd:", err)
		return 1
	}
	switch {
	case *alg != auth.AlgSHA512PBKDF2 && *alg != auth.AlgSHA512:
		return usage(fmt.Sprintf("-H %q: want %s or %s", *alg, auth.AlgSHA512PBKDF2, auth.AlgSHA512))
	case *iter < 1 || *iter > math.MaxInt32:
		return usage(fmt.Sprintf("-I %d: want 1 to %d", *iter, math.MaxInt32))
	}
	newHash := func(password []byte) (string, error) {
		h, err := auth.NewHash(password, *alg, *iter)
		if err != nil {
			return "", err
		}
		return h.String(), nil
	}

	want := 2 // passwordfile username
	switch {
	case *create && *del:
		return usage("-c and -D cannot be used together")
	case *upgrade && (*create || *del || *batch):
		return usage("-U takes no -c, -D or -b")
	case *del && *batch:
		return usage("-D takes no password")
	case *upgrade:
		want = 1
	case *batch:
		want = 3
	}
	if fs.NArg() != want {
		return usage(fmt.Sprintf("want %d arguments, got %d", want, fs.NArg()))
	}
	file := fs.Arg(0)

	if *upgrade {
		lines, err := readLines(file)
		if err != nil {
			return fail(err)
		}
		for i, l := range lines {
			user, pw, ok := entry(l)
			if !ok {
				continue
			}
			if _, err := auth.ParseHash(strings.Trim(pw, " \t")); err == nil {
				continue // already hashed: hashing the hash would lock the user out
			}
			h, err := newHash([]byte(pw))
			if err != nil {
				return fail(err)
			}
			lines[i] = user + ":" + h
		}
		return done(rewrite(file, lines), stderr)
	}

	user := fs.Arg(1)
	if err := checkUsername(user); err != nil {
		return fail(err)
	}
	if *del {
		lines, err := readLines(file)
		if err != nil {
			return fail(err)
		}
		kept := lines[:0]
		for _, l := range lines {
			if u, _, ok := entry(l); ok && u == user {
				continue
			}
			kept = append(kept, l)
		}
		if len(kept) == len(lines) {
			return fail(fmt.Errorf("user %s not found in %s", user, file))
		}
		return done(rewrite(file, kept), stderr)
	}

	var lines []string
	if !*create {
		// Read the file before asking for the password, so that a missing
		// file is reported at once.
		var err error
		if lines, err = readLines(file); err != nil {
			return fail(err)
		}
	}
	var password []byte
	if *batch {
		password = []byte(fs.Arg(2))
	} else {
		var err error
		if password, err = readPassword(stdin, stderr); err != nil {
			return fail(err)
		}
	}
	h, err := newHash(password)
	if err != nil {
		return fail(err)
	}
	line := user + ":" + h
	if *create {
		return done(writeNew(file, line+"\n"), stderr)
	}
	found := false
	out := lines[:0]
	for _, l := range lines {
		if u, _, ok := entry(l); ok && u == user {
			if !found {
				out = append(out, line)
			}
			found = true // and drop any duplicate
			continue
		}
		out = append(out, l)
	}
	if !found {
		out = append(out, line)
	}
	return done(rewrite(file, out), stderr)
}

func done(err error, stderr io.Writer) int {
	if err != nil {
		fmt.Fprintln(stderr, "mast passwd:", err)
		return 1
	}
	return 0
}

// checkUsername refuses user names that the file cannot hold or that the
// broker would read back differently.
func checkUsername(u string) error {
	switch {
	case u == "":
		return errors.New("empty user name")
	case strings.Contains(u, ":"):
		return errors.New("a user name must not contain ':'")
	case !utf8.ValidString(u):
		return errors.New("a user name must be valid UTF-8")
	case strings.ContainsFunc(u, func(r rune) bool { return r < 0x20 || r == 0x7f }):
		return errors.New("a user name must not contain control characters")
	case strings.Trim(u, " ") != u:
		return errors.New("a user name must not start or end with a space")
	case u[0] == '#':
		return errors.New("a user name must not start with '#' (the line would be a comment)")
	case len(u) > 65535:
		return errors.New("a user name is at most 65535 bytes")
	}
	return nil
}

// entry splits a password file line into user and password (as written:
// a plain-text password may hold blanks); ok is false for comments, blank
// lines and lines without a colon.
func entry(line string) (user, password string, ok bool) {
	t := strings.TrimLeft(line, " \t")
	if t == "" || t[0] == '#' {
		return "", "", false
	}
	user, password, ok = strings.Cut(strings.TrimRight(line, "\r"), ":")
	return strings.Trim(user, " \t"), password, ok
}

func readLines(file string) ([]string, error) {
	data, err := os.ReadFile(file)
	if err != nil {
		return nil, err
	}
	s := strings.TrimSuffix(string(data), "\n")
	if s == "" {
		return nil, nil
	}
	return strings.Split(s, "\n"), nil
}

// writeNew creates file (mode 0600: it holds password hashes) or truncates
// an existing one, keeping its mode, and writes content.
func writeNew(file, content string) error {
	f, err := os.OpenFile(file, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o600)
	if err != nil {
		return err
	}
	_, err = f.WriteString(content)
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	return err
}

// rewrite replaces the contents of file with lines. Like mosquitto_passwd
// it rewrites the file in place — keeping its owner, mode and inode, which
// a bind-mounted file in a container needs — after saving the old contents
// to file.tmp, removed once the new ones are on disk.
func rewrite(file string, lines []string) error {
	old, err := os.ReadFile(file)
	if err != nil {
		return err
	}
	backup := file + ".tmp"
	if err := writeNew(backup, string(old)); err != nil {
		return fmt.Errorf("cannot save a backup, not changing %s: %w", file, err)
	}
	content := ""
	if len(lines) > 0 {
		content = strings.Join(lines, "\n") + "\n"
	}
	if err := writeNew(file, content); err != nil {
		return fmt.Errorf("writing %s failed, its previous contents are in %s: %w", file, backup, err)
	}
	return os.Remove(backup)
}

// readPassword asks for the password twice. On a terminal it turns echo
// off (and back on, even if interrupted); otherwise it reads two lines.
func readPassword(stdin io.Reader, prompt io.Writer) ([]byte, error) {
	var first, second []byte
	if f, ok := stdin.(*os.File); ok && term.IsTerminal(int(f.Fd())) {
		fd := int(f.Fd())
		state, err := term.GetState(fd)
		if err != nil {
			return nil, err
		}
		sig := make(chan os.Signal, 1)
		signal.Notify(sig, os.Interrupt, syscall.SIGTERM)
		stop := make(chan struct{})
		defer func() { signal.Stop(sig); close(stop) }()
		go func() {
			select {
			case <-sig:
				term.Restore(fd, state)
				fmt.Fprintln(prompt)
				os.Exit(130)
			case <-stop:
			}
		}()
		ask := func(p string) ([]byte, error) {
			fmt.Fprint(prompt, p)
			b, err := term.ReadPassword(fd)
			fmt.Fprintln(prompt)
			return b, err
		}
		if first, err = ask("Password: "); err != nil {
			return nil, err
		}
		if second, err = ask("Reenter password: "); err != nil {
			return nil, err
		}
	} else {
		r := bufio.NewReader(stdin)
		line := func() ([]byte, error) {
			s, err := r.ReadString('\n')
			if err != nil && (err != io.EOF || s == "") {
				return nil, errors.New("no password on standard input")
			}
			return []byte(strings.TrimRight(s, "\r\n")), nil
		}
		var err error
		if first, err = line(); err != nil {
			return nil, err
		}
		if second, err = line(); err != nil {
			return nil, err
		}
	}
	if len(first) == 0 {
		return nil, errors.New("empty password")
	}
	if string(first) != string(second) {
		return nil, errors.New("passwords do not match")
	}
	return first, nil
}
