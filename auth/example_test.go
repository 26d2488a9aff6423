package auth_test

import (
	"context"
	"fmt"
	"net"

	"github.com/mastmq/mast/auth"
)

func ExampleParseACL() {
	acl, err := auth.ParseACL("mosquitto.acl", []byte(`
topic read public/#

user alice
topic readwrite house/#
topic deny house/safe

pattern write devices/%c/status
`))
	if err != nil {
		panic(err)
	}
	alice := &auth.Client{ClientID: "phone", Username: "alice", HasUsername: true}
	visitor := &auth.Client{ClientID: "lamp-2"}
	fmt.Println(acl.Allow(alice, "house/kitchen/light", auth.Write))
	fmt.Println(acl.Allow(alice, "house/safe", auth.Read))
	fmt.Println(acl.Allow(visitor, "public/weather", auth.Read))
	fmt.Println(acl.Allow(visitor, "devices/lamp-2/status", auth.Write))
	fmt.Println(acl.Allow(visitor, "house/#", auth.Subscribe))
	// Output:
	// true
	// false
	// true
	// true
	// false
}

func ExamplePasswordFile() {
	h, err := auth.NewHash([]byte("correct horse"), auth.AlgSHA512PBKDF2, auth.DefaultIterations)
	if err != nil {
		panic(err)
	}
	file, err := auth.ParsePasswordFile("passwd", []byte("alice:"+h.String()+"\n"))
	if err != nil {
		panic(err)
	}
	limiter := auth.NewLimiter(auth.LimiterConfig{})
	remote := &net.TCPAddr{IP: net.IPv4(192, 0, 2, 1), Port: 50000}
	try := func(password string) {
		// The broker sleeps limiter.Delay(remote) before checking.
		c := &auth.Client{ClientID: "c", Username: "alice", HasUsername: true, Password: []byte(password), HasPassword: true, Remote: remote}
		if err := file.Authenticate(context.Background(), c); err != nil {
			limiter.Failure(remote)
			fmt.Println(err, "- next attempt waits", limiter.Delay(remote))
			return
		}
		limiter.Success(remote)
		fmt.Println("welcome")
	}
	try("tr0ub4dor")
	try("Tr0ub4dor&3")
	try("correct horse")
	// Output:
	// auth: bad user name or password - next attempt waits 200ms
	// auth: bad user name or password - next attempt waits 400ms
	// welcome
}
