//go:build unix

package runtime

import (
	"os"
	"os/exec"
	"syscall"
)

// plumbing is the worker's pipes: ours are the ends the server keeps, child the ends the process gets.
type plumbing struct {
	requests, loads, lifeline *os.File // we write
	replies, stdout, stderr   *os.File // we read
	child                     []*os.File
}

// plumb gives the worker pipes of its own for the protocol (fds 3, 4, 5: requests, loads, replies) and the lifeline
// (fd 6, only the server holds its write end), /dev/null as stdin, and pipes for what modules print; the process
// starts in a group of its own, and learns of the server's death.
func plumb(cmd *exec.Cmd) (*plumbing, error) {
	p := &plumbing{}
	var ends [6][2]*os.File
	for i := range ends {
		r, w, err := os.Pipe()
		if err != nil {
			p.closeChildEnds()
			p.closeOurEnds()
			return nil, err
		}
		ends[i] = [2]*os.File{r, w}
		if i == 0 || i == 1 || i == 3 { // requests, loads, lifeline: the worker reads
			p.child = append(p.child, r)
		} else {
			p.child = append(p.child, w)
		}
	}
	p.requests, p.loads, p.replies, p.lifeline = ends[0][1], ends[1][1], ends[2][0], ends[3][1]
	p.stdout, p.stderr = ends[4][0], ends[5][0]
	cmd.Stdin = nil // /dev/null
	cmd.Stdout, cmd.Stderr = ends[4][1], ends[5][1]
	cmd.ExtraFiles = []*os.File{ends[0][0], ends[1][0], ends[2][1], ends[3][0]}
	cmd.Env = append(cmd.Env, "ZATO_FDS=3,4,5", "ZATO_LIFELINE_FD=6")
	cmd.SysProcAttr = sysProcAttr()
	return p, nil
}

func (p *plumbing) closeChildEnds() {
	for _, f := range p.child {
		_ = f.Close()
	}
}

func (p *plumbing) closeOurEnds() {
	for _, f := range []*os.File{p.requests, p.loads, p.lifeline, p.replies, p.stdout, p.stderr} {
		if f != nil {
			_ = f.Close()
		}
	}
}

// closeWriters closes the request pipes: the worker's loops end at EOF.
func (p *plumbing) closeWriters() {
	_ = p.requests.Close()
	_ = p.loads.Close()
	_ = p.lifeline.Close()
}

func (p *plumbing) closeOutputs() {
	_ = p.stdout.Close()
	_ = p.stderr.Close()
}

// closeRequests ends the worker's loops at EOF, letting the requests in progress answer.
func (p *plumbing) closeRequests() {
	_ = p.requests.Close()
	_ = p.loads.Close()
}

// cutLifeline tells the guard to kill the worker's tree and exit.
func (p *plumbing) cutLifeline(*exec.Cmd) { _ = p.lifeline.Close() }

// killGroup kills the guard's process group: the last resort when the guard did not exit in time. The worker, in a
// session of its own, dies with the guard (PR_SET_PDEATHSIG) on Linux.
func killGroup(cmd *exec.Cmd) {
	_ = syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
	_ = cmd.Process.Kill()
}
