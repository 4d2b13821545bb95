# -*- coding: utf-8 -*-
""" The python3 worker of a server: imports hot-deployed modules and runs their services.

Channels. Where the server passes ZATO_FDS=REQUESTS,LOADS,REPLIES (every Unix), requests, loads and replies are
JSON lines on pipes of their own, moved out of the way to high, close-on-exec fd numbers before any module runs: a
module may close or write to stdin, stdout and stderr as it likes. stdin is /dev/null; what modules print on stdout
and stderr goes to the server's log through a bounded reader. Without ZATO_FDS (Windows) requests and loads come on
stdin and replies go on the original stdout, and print() is sent to stderr.

The guard. Where the server passes ZATO_LIFELINE_FD (every Unix), the process it started is a small guard: before
any module code runs it becomes a child subreaper (Linux), forks the real worker into a session of its own and watches
two things: the lifeline pipe, whose write end only the server holds (EOF when the server closes it or dies, even by
kill -9), and the worker's exit. On either it kills the worker's process group and every process left under it
(orphans of the worker's tree reparent to the guard), reaps them, and exits with the worker's status.

Loads, imports and unloads run in order on the main thread, as imports do in Zato (signal.signal works there only).
The other requests (invocations and queries) are read and run by threads of their own, leader and followers (Serving:
the thread that reads a request runs it, at most ZATO_INVOKE_THREADS at once, 256 by default), so a module that takes
long to import never holds up the services already deployed. Replies may come back in any order: each echoes its
request's id, first on its line, so that the server can tell which request an unreadable line belonged to.
"""

import os
import signal
import sys

PR_SET_PDEATHSIG = 1
PR_SET_CHILD_SUBREAPER = 36
LINUX = sys.platform.startswith('linux')


_LIBC = []


def _libc():
    """ The C library, loaded once for prctl, sched_setattr and madvise (an exception where ctypes is missing). """
    if not _LIBC:
        import ctypes
        _LIBC.append(ctypes.CDLL(None, use_errno=True))
    return _LIBC[0]


def _prctl(option, arg):
    try:
        import ctypes
        return _libc().prctl(option, ctypes.c_ulong(arg), 0, 0, 0) == 0
    except Exception:
        return False


# A service's threads ask for the shortest CPU time slice (100 us; EEVDF's custom slice, Linux 6.12). A thread that
# wakes with a request then takes the CPU from ordinary work that has the default slice (the kernel's PREEMPT_SHORT)
# instead of waiting for that work's slice to end, which the kernel sees only at its next tick (4 ms where HZ is 250).
# The thread's share of the CPU is unchanged. The imports' thread, and what an import starts, keep the default, and so
# do the server's threads: with short slices of their own, the services' threads would gain nothing on them.
SERVICE_SLICE_NS = 100000
# sched_setattr's number in x86-64's table and in the generic one; None where it is not known
_SCHED_SETATTR = ({'x86_64': 314, 'aarch64': 274, 'riscv64': 274, 'loongarch64': 274}.get(os.uname().machine)
                  if LINUX else None)


def short_slice():
    """ Gives this thread SERVICE_SLICE_NS, keeping its policy and nice value; nothing where the system has no such
    call, or the thread runs at another policy than the default ones. Kernels before 6.12 ignore the slice. """
    if _SCHED_SETATTR is None:
        return
    try:
        policy = os.sched_getscheduler(0)
        if policy not in (os.SCHED_OTHER, os.SCHED_BATCH):
            return
        import struct
        nice = os.getpriority(os.PRIO_PROCESS, threading.get_native_id())  # this thread's: Linux gives each its own
        # struct sched_attr, its first version (48 bytes): size, policy, flags, nice, priority, runtime (the slice),
        # deadline, period.
        attr = struct.pack('=IIQiIQQQ', 48, policy, 0, nice, 0, SERVICE_SLICE_NS, 0, 0)
        _libc().syscall(_SCHED_SETATTR, 0, attr, 0)
    except Exception:
        pass


def _high(fd):
    """ A close-on-exec copy of fd at a high number (where modules do not look), fd closed. """
    import fcntl
    import resource
    soft = resource.getrlimit(resource.RLIMIT_NOFILE)[0]
    base = 1000 if soft == resource.RLIM_INFINITY else max(10, min(1000, soft - 64))
    new = fcntl.fcntl(fd, fcntl.F_DUPFD_CLOEXEC, base)
    os.close(fd)
    return new


# ---------------------------------------------------------------------------------------------------------------
# The guard


def _children():
    """ Pids of this process's children: orphans of the worker's tree reparent here (child subreaper). """
    me = os.getpid()
    found = []
    try:
        names = os.listdir('/proc')
    except OSError:
        return found
    for name in names:
        if not name.isdigit():
            continue
        try:
            with open('/proc/%s/stat' % name, 'rb') as f:
                stat = f.read()
        except OSError:
            continue
        # pid (comm) state ppid ...: comm may hold spaces and parentheses, so split after the last ')'
        fields = stat[stat.rfind(b')') + 2:].split()
        if len(fields) > 1 and int(fields[1]) == me:
            found.append(int(name))
    return found


def _reap(worker):
    """ Reaps every child that has exited; (worker's exit code or None, whether any child is left). """
    code = None
    while True:
        try:
            pid, status = os.waitpid(-1, os.WNOHANG)
        except ChildProcessError:
            return code, False
        if pid == 0:
            return code, True
        if pid == worker:
            code = os.waitstatus_to_exitcode(status)
            code = code if code >= 0 else 128 - code  # killed by a signal: 128 + its number, as a shell says


def _drain(fd):
    try:
        while os.read(fd, 512):
            pass
    except (BlockingIOError, InterruptedError):
        pass


def _kill_tree(worker, wake):
    """ Kills the worker's group and every process left under the guard, until none is left (bounded). """
    import select
    import time
    try:
        os.killpg(worker, signal.SIGKILL)
    except OSError:
        pass
    deadline = time.monotonic() + 5
    while True:
        for pid in _children():
            try:
                os.kill(pid, signal.SIGKILL)
            except OSError:
                pass
        _, left = _reap(worker)
        if not left or time.monotonic() > deadline:
            return
        select.select([wake], [], [], 0.01)  # SIGCHLD wakes it early
        _drain(wake)


def guard(lifeline, worker_fds):
    """ Returns in the forked worker; the guard itself never returns. """
    import select
    if LINUX:
        _prctl(PR_SET_CHILD_SUBREAPER, 1)
    lifeline = _high(lifeline)
    wake_r, wake_w = os.pipe()
    os.set_blocking(wake_r, False)
    os.set_blocking(wake_w, False)
    noop = lambda *args: None
    signal.signal(signal.SIGCHLD, noop)
    signal.signal(signal.SIGTERM, noop)  # the server's death signal: the loop then reads the lifeline
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.set_wakeup_fd(wake_w)
    me = os.getpid()
    # The worker's cgroups (its memory and process limits), joined before the fork so that its whole tree is in them.
    for procs in filter(None, os.environ.pop('ZATO_CGROUP_PROCS', '').split(os.pathsep)):
        try:
            with open(procs, 'w') as f:
                f.write(str(me))
        except OSError as e:
            sys.stderr.write('zato: the worker runs outside %s: %s\n' % (procs, e))
    worker = os.fork()
    if worker == 0:
        signal.set_wakeup_fd(-1)
        for s in (signal.SIGCHLD, signal.SIGTERM):
            signal.signal(s, signal.SIG_DFL)
        signal.signal(signal.SIGINT, signal.default_int_handler)
        for fd in (wake_r, wake_w, lifeline):
            os.close(fd)
        os.setsid()  # a group of its own, which the guard kills whole
        if LINUX:
            _prctl(PR_SET_PDEATHSIG, signal.SIGKILL)
        if os.getppid() != me:  # the guard died before the line above
            os._exit(1)
        return
    for fd in worker_fds:  # the guard holds no end of the worker's channels: they end when the worker's tree does
        os.close(fd)
    poll = select.poll()
    poll.register(lifeline, select.POLLIN)
    poll.register(wake_r, select.POLLIN)
    code = 0
    while True:
        exited, _ = _reap(worker)
        if exited is not None:
            code = exited
            break
        events = poll.poll()
        if any(fd == lifeline for fd, _ in events):
            try:
                data = os.read(lifeline, 512)
            except OSError:
                data = b''
            if not data:  # the server closed it or died
                break
        _drain(wake_r)
    _kill_tree(worker, wake_r)
    os._exit(code)


# ---------------------------------------------------------------------------------------------------------------
# The worker


def _channels():
    """ (requests, loads, replies) as binary files; loads is None where it shares requests' stream. """
    fds = os.environ.get('ZATO_FDS')
    if not fds:
        replies = os.fdopen(os.dup(1), 'wb', buffering=1 << 16)
        os.dup2(2, 1)  # print() in a service must never corrupt the protocol
        sys.stdout = sys.stderr
        return sys.stdin.buffer, None, replies
    requests, loads, replies = (int(fd) for fd in fds.split(','))
    lifeline = os.environ.pop('ZATO_LIFELINE_FD', None)
    del os.environ['ZATO_FDS']  # not for what the services spawn
    if lifeline and hasattr(os, 'fork'):
        guard(int(lifeline), (requests, loads, replies))
    requests, loads, replies = _high(requests), _high(loads), _high(replies)
    return (os.fdopen(requests, 'rb', buffering=1 << 16), os.fdopen(loads, 'rb', buffering=1 << 16),
            os.fdopen(replies, 'wb', buffering=1 << 16))


# Only as the script: a module that imports this file must not take the channels over again.
REQUESTS, LOADS, REPLIES = _channels() if __name__ == '__main__' else (None, None, None)

# Copies of the standard fds as the worker got them (stdin /dev/null, stdout and stderr the server's output pipe),
# out of modules' way: a module that closes fd 0, 1 or 2 must not take print() away from the modules after it.
STD_COPIES = tuple(_high(os.dup(fd)) for fd in (0, 1, 2)) if __name__ == '__main__' else ()


def repair_std():
    """ Gives fds 0, 1 and 2 back their own files when a module closed them; a few fstat calls. """
    for fd, copy in zip((0, 1, 2), STD_COPIES):
        try:
            os.fstat(fd)
        except OSError:
            try:
                os.dup2(copy, fd)
            except OSError:
                pass
    for name, fd in (('stdout', 1), ('stderr', 2)):
        f = getattr(sys, name)
        if getattr(f, 'closed', False):  # the module closed the file object itself
            try:
                setattr(sys, name, os.fdopen(os.dup(fd), 'w', encoding='utf-8', errors='replace', buffering=1))
            except OSError:
                pass
WORKER_PID = os.getpid()

import collections  # noqa: E402
import datetime  # noqa: E402
import decimal  # noqa: E402
import gc  # noqa: E402
import importlib  # noqa: E402
import json  # noqa: E402
import linecache  # noqa: E402
import logging  # noqa: E402
import queue  # noqa: E402
import threading  # noqa: E402
import traceback  # noqa: E402
import types  # noqa: E402
import uuid  # noqa: E402

MAX_REPLY = int(os.environ.get('ZATO_MAX_REPLY') or 32 << 20)  # bytes of one invocation's JSON response
MAX_TEXT = 64 << 10  # characters of an error message or traceback
MAX_LOG = 16 << 10  # characters of one log record
_replies_lock = threading.Lock()
_forked = False


def _after_fork():
    """ A process a module forks shares none of the worker's channels: it can neither steal a request nor answer. """
    global _forked
    _forked = True
    for f in (REQUESTS, LOADS, REPLIES):
        if f is not None:
            try:
                os.close(f.fileno())
            except (OSError, ValueError):
                pass


if hasattr(os, 'register_at_fork'):
    os.register_at_fork(after_in_child=_after_fork)


def _fatal(what, exc):
    """ A channel of the worker is gone (a module closed it, or the server is gone): the worker cannot go on. """
    try:
        sys.stderr.write('zato worker: %s failed: %r; exiting\n' % (what, exc))
        sys.stderr.flush()
    except BaseException:
        pass
    os._exit(70)


def send_line(line):
    """ Writes one whole line on the replies stream; replies and log records come from many threads. """
    if _forked or os.getpid() != WORKER_PID:
        os._exit(0)  # a module's forked child came back into the worker's code: it has nothing to say
    try:
        with _replies_lock:
            REPLIES.write(line)
            REPLIES.flush()
    except BaseException as e:
        _fatal('writing a reply', e)


def send(msg):
    send_line(json.dumps(msg).encode('ascii') + b'\n')


def clip(text, limit=MAX_TEXT):
    if len(text) <= limit:
        return text
    return text[:limit] + '... ({} characters cut)'.format(len(text) - limit)


for p in reversed(sys.argv[1:]):
    if p not in sys.path:
        sys.path.insert(0, p)

from zato.server.service import Service, Bunch, BadInput, Request, Response, sio_spec, sio_types  # noqa: E402


class _Handler(logging.Handler):
    """ Log records travel on the replies stream, ahead of the reply they belong to, so none is lost or late. """
    def emit(self, record):
        try:
            msg = record.getMessage()
            if record.exc_info:
                msg += '\n' + ''.join(traceback.format_exception(*record.exc_info))
            send({'log': {'level': record.levelname, 'logger': record.name, 'msg': clip(msg, MAX_LOG)}})
        except Exception:
            pass


root = logging.getLogger()
root.handlers[:] = [_Handler()]
root.setLevel(logging.INFO)

SERVER_NAME = os.environ.get('ZATO_SERVER_NAME', '')
# A restarted worker serves at once while the good modules are replayed into it: a service not there yet is waited
# for until the replay is over (the 'replayed' op), so that no invocation sees a service missing.
REPLAYED = threading.Event()
if not os.environ.pop('ZATO_REPLAYING', None):
    REPLAYED.set()
# service name -> (class, python module name). Only the main thread (which runs loads) changes it, and only by
# binding a new dict (copy-on-write), so a reader that takes `services` once sees either a module's old services or
# its new ones.
services = {}
modules = {}    # python module name -> [service names]; the main thread's own


class InvokeFailure(Exception):
    def __init__(self, status, type_, message, tb=''):
        Exception.__init__(self, message)
        self.status, self.type, self.message, self.tb = status, type_, message, tb


_RUNTIME_FILE = os.path.abspath(__file__)


_SERVICE_PACKAGE = os.path.join(os.path.dirname(_RUNTIME_FILE), 'zato') + os.sep


def _runtime_frame(filename):
    path = os.path.abspath(filename)
    return path == _RUNTIME_FILE or path.startswith(_SERVICE_PACKAGE)


def user_traceback(exc):
    """ A traceback of the module's own code: the runtime's frames (the load, the invocation, self.invoke between two
    services) say nothing to the module's author, wherever they stand in it. """
    tb = exc.__traceback__
    while tb is not None and _runtime_frame(tb.tb_frame.f_code.co_filename):
        tb = tb.tb_next
    frames = [fs for fs in traceback.extract_tb(tb) if not _runtime_frame(fs.filename)]
    if not frames:
        return ''.join(traceback.format_exception(type(exc), exc, tb))
    return 'Traceback (most recent call last):\n' + ''.join(traceback.format_list(frames)) + \
        ''.join(traceback.format_exception_only(type(exc), exc))


class InvokedServiceFailed(Exception):
    """ A service that self.invoke called was not found, or refused its input: the caller failed, at its own line,
    not the service the client named. """
    status = 500


def error_of(exc, filename, source=None):
    """ Type, message, line and column of an import failure, located in the module's own file when possible. """
    if isinstance(exc, SyntaxError) and source is not None and exc.filename == filename and exc.lineno:
        # The parser quotes the failing line from the file on disk, which is still the last good version:
        # quote the uploaded source instead.
        lines = source.splitlines(True)
        if 0 < exc.lineno <= len(lines):
            exc.text = lines[exc.lineno - 1]
    info = {'type': type(exc).__name__, 'message': clip(str(exc)), 'line': 0, 'column': 0,
            'traceback': clip(user_traceback(exc))}
    if isinstance(exc, SyntaxError):
        info['message'] = clip(exc.msg or str(exc))
        info['line'] = exc.lineno or 0
        info['column'] = exc.offset or 0
        return info
    if isinstance(exc, SystemExit):
        info['message'] = clip('the module called sys.exit({!r}) at import'.format(exc.code))
    line = col = 0
    for fs in traceback.extract_tb(exc.__traceback__):
        if fs.filename == filename:
            line = fs.lineno or 0
            col = (getattr(fs, 'colno', None) or 0) + 1 if getattr(fs, 'colno', None) is not None else 0
    info['line'], info['column'] = line, col
    return info


def own_services(mod, modname):
    found = {}
    for obj in list(vars(mod).values()):
        if not isinstance(obj, type) or not issubclass(obj, Service) or obj is Service:
            continue
        # As in Zato: a class with the attribute, whatever its value and wherever it comes from, is not deployed.
        if obj.__module__ != modname or hasattr(obj, 'zato_dont_import'):
            continue
        name = obj.get_name()
        if name in found and found[name] is not obj:
            raise ValueError('service name {} is used by two classes of {}: {} and {}'.format(
                name, modname, found[name].__name__, obj.__name__))
        found[name] = obj
    return found


def register(modname, found, filename):
    """ Swaps a module's services atomically; refuses names owned by another module. """
    global services
    current = services
    for name in found:
        owner = current.get(name)
        if owner and owner[1] != modname:
            # A renamed module meets its old self here, or a service moved from one module to another: say the
            # way out of each.
            mine, theirs = module_label(modname), module_label(owner[1])
            raise InvokeFailure(0, 'ServiceNameConflict',
                'service {} of {} is already deployed from {}; if {} replaces {}, undeploy {} first; if the service '
                'moved here from {}, deploy {} without it first; else give one of the two services another '
                'name'.format(name, mine, theirs, mine, theirs, theirs, theirs, theirs))
    old = modules.get(modname, [])
    new = dict(current)
    for name in old:
        new.pop(name, None)
    for name, cls in found.items():
        new[name] = (cls, modname)
    services = new
    modules[modname] = sorted(found)
    return sorted(found), sorted(set(old) - set(found))


def op_load(req):
    module_file, filename, source = req['module'], req['filename'], req['source']
    modname = module_file[:-3] if module_file.endswith('.py') else module_file
    previous = sys.modules.get(modname)
    # Tracebacks quote lines from linecache: give it this source, not the last good file of the same name on disk.
    linecache.cache[filename] = (len(source), None, source.splitlines(True), filename)
    try:
        code = compile(source, filename, 'exec')
        mod = types.ModuleType(modname)
        mod.__file__ = filename
        sys.modules[modname] = mod  # so that classes get __module__ == modname and the module can be imported
        exec(code, mod.__dict__)
        found = own_services(mod, modname)
        svcs, removed = register(modname, found, filename)
    except InvokeFailure as e:
        restore(modname, previous)
        return {'ok': False, 'error': {'type': e.type, 'message': e.message, 'line': 0, 'column': 0, 'traceback': ''}}
    except BaseException as e:  # SystemExit included: a module must not stop the worker
        info = error_of(e, filename, source)  # before restore, while linecache still holds this source
        restore(modname, previous)
        return {'ok': False, 'error': info}
    return {'ok': True, 'services': svcs, 'removed': removed}


def restore(modname, previous):
    if previous is not None:
        linecache.cache.pop(getattr(previous, '__file__', None) or '', None)  # back to the good file on disk
    if previous is not None:
        sys.modules[modname] = previous
    else:
        sys.modules.pop(modname, None)


def op_import(req):
    dotted = req['dotted']
    try:
        if dotted in sys.modules:
            mod = importlib.reload(sys.modules[dotted])
        else:
            mod = importlib.import_module(dotted)
        found = own_services(mod, mod.__name__)
        svcs, removed = register(mod.__name__, found, getattr(mod, '__file__', ''))
    except InvokeFailure as e:
        return {'ok': False, 'error': {'type': e.type, 'message': e.message, 'line': 0, 'column': 0, 'traceback': ''}}
    except BaseException as e:
        return {'ok': False, 'error': error_of(e, getattr(e, 'filename', None) or '')}
    return {'ok': True, 'services': svcs, 'removed': removed}


def op_unload(req):
    global services
    module_file = req['module']
    modname = module_file[:-3] if module_file.endswith('.py') else module_file
    removed = modules.pop(modname, [])
    if removed:
        new = dict(services)
        for name in removed:
            new.pop(name, None)
        services = new
    sys.modules.pop(modname, None)
    return {'ok': True, 'removed': sorted(removed)}


def op_services(req):
    REPLAYED.wait()
    return {'ok': True, 'listing': [
        {'name': name, 'module': module_label(modname), 'class': cls.__name__}
        for name, (cls, modname) in sorted(services.items())]}


def module_label(modname):
    # A hot-deployed or service-sources file is its file name; a dotted module a service-sources entry imported from
    # sys.path is its dotted name (slowpkg.svc, not a file slowpkg.svc.py that exists nowhere).
    return modname if '.' in modname else modname + '.py'


def to_jsonable(value):
    if isinstance(value, Bunch):
        return dict(value)
    return value


_TRUE, _FALSE = ('true', 'yes', 'on', '1'), ('false', 'no', 'off', '0')


def sio_value(name, typ, value):
    """ An input as its SimpleIO type (Integer('age') etc.) says, as Zato converts it; a value that cannot be one is
    BadInput naming the input. Untyped inputs, and None, are as sent. """
    if value is None or typ is None:
        return value
    try:
        if typ in ('Int', 'Integer'):
            if isinstance(value, bool) or isinstance(value, float) and not value.is_integer():
                raise ValueError
            return int(value)
        if typ in ('Bool', 'Boolean'):
            if isinstance(value, bool):
                return value
            text = str(value).strip().lower()
            if text in _TRUE or text in _FALSE:
                return text in _TRUE
            raise ValueError
        if typ == 'Float':
            if isinstance(value, bool):
                raise ValueError
            return float(value)
        if typ == 'Decimal':
            if isinstance(value, bool):
                raise ValueError
            return decimal.Decimal(str(value))
        if typ == 'DateTime':
            return datetime.datetime.fromisoformat(str(value))
        if typ == 'Date':
            return datetime.date.fromisoformat(str(value))
        if typ == 'UUID':
            return uuid.UUID(str(value))
        if typ == 'Text':
            return value if isinstance(value, str) else json.dumps(value) if isinstance(value, (dict, list)) else str(value)
    except (ValueError, TypeError, ArithmeticError):
        raise InvokeFailure(400, 'BadInput', 'input {} is {}, which is not {} {}'.format(
            name, json.dumps(value), 'an' if typ[0] in 'AEIOU' else 'a', typ)) from None
    return value


def invoke_async(name, payload):
    """ self.invoke_async: the service runs on a thread of its own, under a new CID, returned at once. """
    cid = uuid.uuid4().hex

    def run():
        try:
            run_service(name, payload, cid)
        except BaseException as e:
            logging.getLogger(name).error('invoked asynchronously (cid %s), %s failed: %s: %s', cid, name,
                                          getattr(e, 'type', type(e).__name__), getattr(e, 'message', str(e)))
    threading.Thread(target=run, name='invoke-async', daemon=True).start()
    return cid


def invoke_nested(name, payload, cid, depth):
    try:
        return run_service(name, payload, cid, depth)
    except InvokeFailure as e:
        if e.type == 'RecursionError':
            raise
        raise InvokedServiceFailed('{} failed: {}: {}'.format(name, e.type, e.message)) from None


def run_service(name, payload, cid, depth=0):
    if depth > 50:
        raise InvokeFailure(500, 'RecursionError', 'services invoked each other more than 50 levels deep')
    entry = services.get(name)
    if entry is None and not REPLAYED.is_set():
        REPLAYED.wait()
        entry = services.get(name)
    if entry is None:
        raise InvokeFailure(404, 'ServiceNotFound', 'no service named {}'.format(name))
    cls = entry[0]
    sio = cls.__dict__.get('SimpleIO') or getattr(cls, 'SimpleIO', None)
    in_req, in_opt, out_req, _ = sio_spec(sio)
    data = payload if isinstance(payload, dict) else {}
    if in_req or in_opt:
        if payload is not None and not isinstance(payload, dict):
            raise InvokeFailure(400, 'BadInput', 'the payload must be a JSON object with {}; it is a {}'.format(
                ', '.join(in_req + in_opt), type(payload).__name__))
        missing = [k for k in in_req if data.get(k) is None]
        if missing:
            raise InvokeFailure(400, 'BadInput', 'missing required input: {}'.format(', '.join(missing)))
        types_ = sio_types(sio)
        inp = Bunch()
        for k in in_req + in_opt:
            inp[k] = sio_value(k, types_.get(k), data.get(k))
    else:
        inp = Bunch(data)
    svc = cls()
    svc.name = name
    svc.cid = cid or uuid.uuid4().hex
    svc.server_name = SERVER_NAME
    svc.request = Request(payload, inp)
    svc.response = Response()
    svc.logger = logging.getLogger(name)
    svc._invoker = lambda n, p, c: invoke_nested(n, p, c, depth + 1)
    svc._invoker_async = invoke_async
    svc.before_handle()
    svc.handle()
    svc.after_handle()
    out = to_jsonable(svc.response.payload)
    if out_req and isinstance(out, dict):
        missing = [k for k in out_req if k not in out]
        if missing:
            raise InvokeFailure(500, 'BadOutput', 'service {} did not set required output: {}'.format(name, ', '.join(missing)))
    return out


class Encoded:
    """ A reply whose response is JSON already: it goes on the line as it is, encoded once. """
    def __init__(self, body):
        self.body = body


def at_least(value, limit, budget=100000):
    """ A lower bound of value's size in JSON, counted until it passes limit or budget values have been seen: a
    string is never shorter encoded, so a response far over the limit is refused before it is encoded (encoding 70 MB
    costs a CPU most of a second, which the other services on the machine would wait for). """
    total, stack = 0, [value]
    while stack and budget > 0 and total <= limit:
        v = stack.pop()
        budget -= 1
        if isinstance(v, (str, bytes)):
            total += len(v) + 2
        elif isinstance(v, dict):
            total += 2 + len(v)
            stack.extend(v.keys())
            stack.extend(v.values())
        elif isinstance(v, (list, tuple)):
            total += 2 + len(v)
            stack.extend(v)
        else:
            total += 1
    return total


def op_invoke(req):
    try:
        out = run_service(req['service'], req.get('payload'), req.get('cid'))
        bound = at_least(out, MAX_REPLY)
        if bound > MAX_REPLY:
            return too_large(req['service'], bound, 'at least ')
        try:
            body = json.dumps(out, default=_not_serializable, allow_nan=False)  # NaN is no JSON: the server cannot read it
        except ValueError as e:
            raise ValueError('the response cannot be sent as JSON: ' + str(e)) from None
    except InvokeFailure as e:
        return {'ok': False, 'status': e.status or 500, 'error': {'type': e.type, 'message': clip(e.message), 'traceback': clip(e.tb)}}
    except BaseException as e:
        # An exception that carries an HTTP status (BadInput's 400, a user's own with status = 4xx) answers it.
        status = getattr(e, 'status', 500)
        if not isinstance(status, int) or not 400 <= status <= 599:
            status = 500
        return {'ok': False, 'status': status, 'error': {'type': type(e).__name__, 'message': clip(str(e)),
                'traceback': clip(user_traceback(e))}}
    if len(body) > MAX_REPLY:
        return too_large(req['service'], len(body))
    return Encoded(body)


def too_large(what, size, bound=''):
    return {'ok': False, 'status': 502, 'error': {'type': 'ResponseTooLarge', 'traceback': '', 'message':
            'the response of {} is {}{} bytes, over the limit of {} bytes'.format(what, bound, size, MAX_REPLY)}}


def _not_serializable(value):
    # What a Zato service commonly answers beyond plain JSON: times as ISO 8601, Decimal as its exact digits (a
    # float would change them), UUIDs as text, bytes that are UTF-8 text as that text, sets as lists.
    if isinstance(value, (datetime.datetime, datetime.date, datetime.time)):
        return value.isoformat()
    if isinstance(value, decimal.Decimal):
        return str(value)
    if isinstance(value, uuid.UUID):
        return str(value)
    if isinstance(value, (bytes, bytearray)):
        try:
            return bytes(value).decode('utf-8')
        except UnicodeDecodeError:
            raise TypeError('the response holds bytes that are not UTF-8 text; send them base64-encoded') from None
    if isinstance(value, (set, frozenset)):
        try:
            return sorted(value)
        except TypeError:
            return list(value)
    raise TypeError('the response holds a {} which is not JSON-serializable'.format(type(value).__name__))


OPS = {'load': op_load, 'import': op_import, 'unload': op_unload, 'services': op_services, 'invoke': op_invoke,
       'ping': lambda req: {'ok': True, 'pid': os.getpid(), 'executable': sys.executable}, 'replayed': lambda req: REPLAYED.set() or {'ok': True}}
LOADER_OPS = ('load', 'import', 'unload', 'replayed')  # run one after another on the main thread, in the order received


# A module that forks at import leaves a child sharing the worker's memory: each page the worker writes afterwards is
# copied first (copy on write), a cost the next invocations would pay, tens of ms in all. Right after such a load, while
# it runs (its worker is given no invocation meanwhile, and the loader has the imports' idle CPU priority), every
# page still shared is copied at once by the kernel (MADV_POPULATE_WRITE), or, before Linux 5.14, a collection writes
# the pages of the objects it tracks.
FORKED = threading.Event()
if __name__ == '__main__' and hasattr(os, 'register_at_fork'):
    os.register_at_fork(after_in_parent=FORKED.set)


MADV_POPULATE_WRITE = 23  # Linux 5.14


def unshare_pages():
    """ Copies every page of the worker's private writable memory that is present and shared with a process it forked;
    False where the kernel cannot. Pages never touched stay unallocated (thread stacks, arenas' free space). """
    try:
        import ctypes
        import struct
        libc = _libc()
        libc.madvise.argtypes = (ctypes.c_void_p, ctypes.c_size_t, ctypes.c_int)
        page = os.sysconf('SC_PAGE_SIZE')
        ranges = []
        with open('/proc/self/maps') as maps, open('/proc/self/pagemap', 'rb') as pagemap:
            for line in maps:
                f = line.split()
                if f[1] != 'rw-p':
                    continue
                lo, hi = (int(x, 16) for x in f[0].split('-'))
                pagemap.seek(lo // page * 8)
                start = None
                for i, (entry,) in enumerate(struct.iter_unpack('<Q', pagemap.read((hi - lo) // page * 8))):
                    shared = entry >> 63 and not (entry >> 56) & 1  # present, and not mapped by this process alone
                    if shared and start is None:
                        start = i
                    elif not shared and start is not None:
                        ranges.append((lo + start * page, (i - start) * page))
                        start = None
                if start is not None:
                    ranges.append((lo + start * page, hi - lo - start * page))
        return all(libc.madvise(addr, size, MADV_POPULATE_WRITE) == 0 for addr, size in ranges)
    except Exception:
        return False


def handle(req):
    rid = req.get('id')
    rid = rid if isinstance(rid, int) else 0
    if STD_COPIES:
        repair_std()
    try:
        resp = OPS[req['op']](req)
        if FORKED.is_set() and req.get('op') in LOADER_OPS:
            FORKED.clear()
            if not unshare_pages():
                gc.collect()
    except BaseException as e:
        resp = {'ok': False, 'status': 500, 'error': {'type': type(e).__name__, 'message': clip(str(e)), 'traceback': clip(traceback.format_exc())}}
    head = b'{"id": %d, ' % rid  # first on the line, so that the server can fail the right request with an unreadable one
    try:
        if isinstance(resp, Encoded):
            line = head + b'"ok": true, "response": ' + resp.body.encode('ascii') + b'}\n'
        else:
            line = head + json.dumps(resp).encode('ascii')[1:] + b'\n'
            if len(line) > MAX_REPLY + MAX_TEXT * 4:
                line = head + json.dumps(too_large(req.get('op'), len(line))).encode('ascii')[1:] + b'\n'
    except BaseException as e:
        line = head + json.dumps({'ok': False, 'status': 500, 'error': {'type': type(e).__name__, 'message': clip(str(e)), 'traceback': ''}}).encode('ascii')[1:] + b'\n'
    send_line(line)


def requests(f, what):
    """ The requests in a stream of JSON lines; a line that is not a JSON object is skipped. """
    while True:
        try:
            line = f.readline()
        except BaseException as e:
            _fatal('reading ' + what, e)
        if not line:
            return
        try:
            req = json.loads(line)
        except ValueError:
            continue
        if isinstance(req, dict):
            yield req


class Serving:
    """ The threads that read requests and run them, leader and followers: the thread that reads a request runs it
    itself, and a thread that waits (or a new one) takes over the reading. A request costs one thread's wakeup, not
    two (a reader's, then a pool thread's), and each wakeup waits for a CPU on a busy server. At most limit requests
    run at once: with limit threads running, one more thread reads on and keeps what it reads for the first of them
    to finish. Loads, when they share the stream (no ZATO_FDS), go to the main thread's queue as they are read. """

    def __init__(self, f, loads, limit):
        self.f, self.loads, self.limit = f, loads, limit
        self.reading = threading.Lock()  # held by the thread that reads: one at a time
        self.state = threading.Lock()    # guards what follows
        self.waiting = 0                 # threads waiting to read
        self.threads = []
        self.backlog = collections.deque()
        self.eof = False

    def start(self):
        with self.state:
            if not self.spawn():
                _fatal('starting the thread that reads requests', RuntimeError('no thread could start'))

    def spawn(self):
        """ A new thread, which will read; self.state is held. False where none can start (a pids limit). """
        t = threading.Thread(target=self.run, name='zato-request', daemon=True)
        try:
            t.start()
        except RuntimeError:
            return False
        self.threads.append(t)
        return True

    def run(self):
        short_slice()
        while True:
            req = self.next()
            if req is None:
                return
            handle(req)

    def next(self):
        """ The next request for this thread to run, kept or read; None at the end of the stream. """
        with self.state:
            if self.backlog:
                return self.backlog.popleft()
            self.waiting += 1
        with self.reading:
            with self.state:
                self.waiting -= 1
            while not self.eof:
                req = self.read()
                if req is None:
                    continue
                with self.state:
                    if self.waiting or self.spawn_reader():
                        return req
                    self.backlog.append(req)
        with self.state:  # the stream has ended: what was kept still runs
            return self.backlog.popleft() if self.backlog else None

    def spawn_reader(self):
        """ Whether this thread may run what it read, another thread reading; self.state is held. Without a place for
        a new thread it may not (the limit reached: it reads on). Where no thread can start, it runs the request,
        and the first thread to finish reads next. """
        if len(self.threads) > self.limit:
            return False
        return self.spawn() or True

    def read(self):
        """ One request for a thread to run; None for a load (queued), a line that is not a request, or the end. """
        try:
            line = self.f.readline()
        except BaseException as e:
            _fatal('reading requests', e)
        if not line:
            self.eof = True
            if self.loads is not None:
                self.loads.put(None)
            return None
        try:
            req = json.loads(line)
        except ValueError:
            return None
        if not isinstance(req, dict):
            return None
        if req.get('op') in LOADER_OPS and self.loads is not None:
            self.loads.put(req)
            return None
        return req

    def join(self):
        """ Returns once every thread has ended: at the end of the stream, those running and those kept finish. """
        while True:
            with self.state:
                alive = [t for t in self.threads if t.is_alive()]
            if not alive:
                return
            for t in alive:
                t.join()


def main():
    # Loads run on the main thread, as imports do in Zato: a module may call signal.signal at import, which Python
    # allows on the main thread only. Requests are read by threads of their own, so invocations keep being served
    # while an import runs (or hangs); at most ZATO_INVOKE_THREADS run at once, the others wait their turn.
    shared = queue.SimpleQueue() if LOADS is None else None
    serving = Serving(REQUESTS, shared, int(os.environ.get('ZATO_INVOKE_THREADS') or 256))
    serving.start()
    # Imports at idle CPU priority (the server's loads cgroup): this thread, and whatever an import starts, yield a
    # CPU at once to the threads that read requests and run services, which stay where they are.
    loads = os.environ.pop('ZATO_LOADS_TASKS', '')
    if loads:
        try:
            with open(loads, 'w') as f:
                f.write('0')  # this thread alone, and without the lock that moving another thread takes
        except OSError as e:
            sys.stderr.write('zato: imports run at the services\' CPU priority: %s\n' % e)
    if shared is None:
        for req in requests(LOADS, 'loads'):
            handle(req)
    else:
        for req in iter(shared.get, None):
            handle(req)
    serving.join()  # at EOF the requests in progress, and those kept, still answer
    # Not a normal exit: that would wait for the threads a module started and left running.
    for f in (sys.stdout, sys.stderr):
        try:
            f.flush()
        except BaseException:
            pass
    os._exit(0)


if __name__ == '__main__':
    main()
