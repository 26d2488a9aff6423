// Command mast is the MQTT broker and its tools in one binary.
//
//	mast serve [flags]     run the broker
//	mast version           print the version
//
// Run "mast help" or "mast CMD -h" for the flags of each command.
package main

import (
	"fmt"
	"io"
	"os"
)

// version is set at build time with -ldflags "-X main.version=...".
var version = "0.1.0-dev"

type command struct {
	name    string
	summary string
	run     func(args []string, stdout, stderr io.Writer) int
}

func commands() []command {
	return []command{
		{"serve", "run the MQTT broker", runServe},
		{"passwd", "create or edit a password file", runPasswd},
		{"pub", "publish a message (mosquitto_pub's flags)", runPub},
		{"sub", "subscribe and print messages (mosquitto_sub's flags)", runSub},
		{"check-config", "print what a configuration file means to mast", runCheckConfig},
		{"bench", "load-test a broker", runBench},
		{"store", "inspect, export, import or compact a data directory", runStore},
		{"version", "print the version", runVersion},
	}
}

func main() {
	os.Exit(run(os.Args[1:], os.Stdout, os.Stderr))
}

func run(args []string, stdout, stderr io.Writer) int {
	if len(args) == 0 || args[0] == "help" || args[0] == "-h" || args[0] == "--help" {
		usage(stderr)
		if len(args) == 0 {
			return 2
		}
		return 0
	}
	for _, c := range commands() {
		if c.name == args[0] {
			return c.run(args[1:], stdout, stderr)
		}
	}
	fmt.Fprintf(stderr, "mast: unknown command %q\n\n", args[0])
	usage(stderr)
	return 2
}

func usage(w io.Writer) {
	fmt.Fprintln(w, "usage: mast COMMAND [flags]")
	fmt.Fprintln(w)
	for _, c := range commands() {
		fmt.Fprintf(w, "  %-10s %s\n", c.name, c.summary)
	}
}

func runVersion(_ []string, stdout, _ io.Writer) int {
	fmt.Fprintln(stdout, "mast", version)
	return 0
}
