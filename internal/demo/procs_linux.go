package demo

import "syscall"

// sysProcAttr puts a program in a process group of its own (the terminal's
// Ctrl-C goes to the demo, which stops programs in order) and kills it if
// the demo dies without stopping it.
func sysProcAttr() *syscall.SysProcAttr {
	return &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL, Setpgid: true}
}
