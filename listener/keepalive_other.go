//go:build !linux

package listener

import "net"

// tcpListenConfig leaves keep-alive to Go's defaults, set on each
// accepted connection: not every system copies the listener's options
// to the sockets it accepts.
var tcpListenConfig net.ListenConfig
