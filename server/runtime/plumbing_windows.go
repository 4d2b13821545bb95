package runtime

import (
	"os"
	"os/exec"
)

// plumbing is the worker's pipes. Windows cannot pass a process more than its three standard handles through os/exec,
// so requests and loads share stdin and replies come on stdout; what modules print goes to stderr (the worker sends
// print() there). There is no guard: the worker is killed directly.
type plumbing struct {
	requests, loads, lifeline *os.File
	replies, stdout, stderr   *os.File
	child                     []*os.File
}

func plumb(cmd *exec.Cmd) (*plumbing, error) {
	p := &plumbing{}
	var ends [3][2]*os.File
	for i := range ends {
		r, w, err := os.Pipe()
		if err != nil {
			p.closeChildEnds()
			p.closeOurEnds()
			return nil, err
		}
		ends[i] = [2]*os.File{r, w}
	}
	cmd.Stdin, cmd.Stdout, cmd.Stderr = ends[0][0], ends[1][1], ends[2][1]
	p.child = []*os.File{ends[0][0], ends[1][1], ends[2][1]}
	p.requests, p.replies, p.stderr = ends[0][1], ends[1][0], ends[2][0]
	p.loads = p.requests
	return p, nil
}

func (p *plumbing) closeChildEnds() {
	for _, f := range p.child {
		_ = f.Close()
	}
}

func (p *plumbing) closeOurEnds() {
	for _, f := range []*os.File{p.requests, p.replies, p.stderr} {
		if f != nil {
			_ = f.Close()
		}
	}
}

func (p *plumbing) closeWriters()  { _ = p.requests.Close() }
func (p *plumbing) closeOutputs()  { _ = p.stderr.Close() }
func (p *plumbing) closeRequests() { _ = p.requests.Close() }

func (p *plumbing) cutLifeline(cmd *exec.Cmd) { _ = cmd.Process.Kill() }

func killGroup(cmd *exec.Cmd) { _ = cmd.Process.Kill() }
