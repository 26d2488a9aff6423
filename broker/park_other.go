//go:build !linux

package broker

import "time"

// Elsewhere than on Linux connections never park: their readers block.

const parkSupported = false

type parker struct {
	idle time.Duration
}

func (p *parker) idleFor() time.Duration { return parkIdle }
func (p *parker) add(*conn) parkResult   { return parkNo }
func (p *parker) release(c *conn) bool   { return false }
func (p *parker) parked() int            { return 0 }
func (p *parker) close()                 {}
