//go:build unix && !linux

package demo

import "syscall"

// sysProcAttr puts a program in a process group of its own. Only Linux can
// also kill it when the demo dies; elsewhere the demo stops its programs
// when it ends normally.
func sysProcAttr() *syscall.SysProcAttr {
	return &syscall.SysProcAttr{Setpgid: true}
}
