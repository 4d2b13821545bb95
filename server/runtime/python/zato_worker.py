# -*- coding: utf-8 -*-
""" The python3 worker of a server: imports hot-deployed modules and runs their services.
Requests and responses are JSON lines on stdin and on the original stdout; anything the services print goes to stderr.
Loads, imports and unloads come on fd 3 when ZATO_LOADS_FD says so, else on stdin with the rest.

Loads, imports and unloads run in order on the main thread, as imports do in Zato (signal.signal works there only).
A thread reads stdin; invocations and the other queries run on a pool of threads (ZATO_INVOKE_THREADS, 256 by
default), so a module that takes long to import never holds up the services already deployed. Replies may come back
in any order: each echoes its request's id.
"""

import concurrent.futures
import importlib
import json
import linecache
import logging
import os
import queue
import sys
import threading
import traceback
import types
import uuid

PROTO = os.fdopen(os.dup(1), 'w', encoding='utf-8', buffering=1)
os.dup2(2, 1)  # print() in a service must never corrupt the protocol
sys.stdout = sys.stderr
_proto_lock = threading.Lock()


def send(msg):
    """ Writes one whole line on the protocol stream; replies and log records come from many threads. """
    line = json.dumps(msg) + '\n'
    with _proto_lock:
        PROTO.write(line)

for p in reversed(sys.argv[1:]):
    if p not in sys.path:
        sys.path.insert(0, p)

from zato.server.service import Service, Bunch, BadInput, Request, Response, sio_spec  # noqa: E402

class _Handler(logging.Handler):
    """ Log records travel on the protocol stream, ahead of the reply they belong to, so none is lost or late. """
    def emit(self, record):
        try:
            msg = record.getMessage()
            if record.exc_info:
                msg += '\n' + ''.join(traceback.format_exception(*record.exc_info))
            send({'log': {'level': record.levelname, 'logger': record.name, 'msg': msg}})
        except Exception:
            pass


root = logging.getLogger()
root.handlers[:] = [_Handler()]
root.setLevel(logging.INFO)

SERVER_NAME = os.environ.get('ZATO_SERVER_NAME', '')
# service name -> (class, python module name). Only the main thread (which runs loads) changes it, and only by
# binding a new dict (copy-on-write), so a reader that takes `services` once sees either a module's old services or
# its new ones.
services = {}
modules = {}    # python module name -> [service names]; the main thread's own


class InvokeFailure(Exception):
    def __init__(self, status, type_, message, tb=''):
        Exception.__init__(self, message)
        self.status, self.type, self.message, self.tb = status, type_, message, tb


def error_of(exc, filename, source=None):
    """ Type, message, line and column of an import failure, located in the module's own file when possible. """
    if isinstance(exc, SyntaxError) and source is not None and exc.filename == filename and exc.lineno:
        # The parser quotes the failing line from the file on disk, which is still the last good version:
        # quote the uploaded source instead.
        lines = source.splitlines(True)
        if 0 < exc.lineno <= len(lines):
            exc.text = lines[exc.lineno - 1]
    info = {'type': type(exc).__name__, 'message': str(exc), 'line': 0, 'column': 0,
            'traceback': ''.join(traceback.format_exception(type(exc), exc, exc.__traceback__))}
    if isinstance(exc, SyntaxError):
        info['message'] = exc.msg or str(exc)
        info['line'] = exc.lineno or 0
        info['column'] = exc.offset or 0
        return info
    if isinstance(exc, SystemExit):
        info['message'] = 'the module called sys.exit({!r}) at import'.format(exc.code)
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
            raise InvokeFailure(0, 'ServiceNameConflict',
                'service {} of {}.py is already deployed from {}.py'.format(name, modname, owner[1]))
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
    return {'ok': True, 'services': [
        {'name': name, 'module': modname + '.py', 'class': cls.__name__} for name, (cls, modname) in sorted(services.items())]}


def to_jsonable(value):
    if isinstance(value, Bunch):
        return dict(value)
    return value


def run_service(name, payload, cid, depth=0):
    if depth > 50:
        raise InvokeFailure(500, 'RecursionError', 'services invoked each other more than 50 levels deep')
    entry = services.get(name)
    if entry is None:
        raise InvokeFailure(404, 'ServiceNotFound', 'no service named {}'.format(name))
    cls = entry[0]
    in_req, in_opt, out_req, _ = sio_spec(cls.__dict__.get('SimpleIO') or getattr(cls, 'SimpleIO', None))
    data = payload if isinstance(payload, dict) else {}
    if in_req or in_opt:
        missing = [k for k in in_req if data.get(k) is None]
        if missing:
            raise InvokeFailure(400, 'BadInput', 'missing required input: {}'.format(', '.join(missing)))
        inp = Bunch()
        for k in in_req + in_opt:
            inp[k] = data.get(k)
    else:
        inp = Bunch(data)
    svc = cls()
    svc.name = name
    svc.cid = cid or uuid.uuid4().hex
    svc.server_name = SERVER_NAME
    svc.request = Request(payload, inp)
    svc.response = Response()
    svc.logger = logging.getLogger(name)
    svc._invoker = lambda n, p, c: run_service(n, p, c, depth + 1)
    svc.before_handle()
    svc.handle()
    svc.after_handle()
    out = to_jsonable(svc.response.payload)
    if out_req and isinstance(out, dict):
        missing = [k for k in out_req if k not in out]
        if missing:
            raise InvokeFailure(500, 'BadOutput', 'service {} did not set required output: {}'.format(name, ', '.join(missing)))
    return out


def op_invoke(req):
    try:
        out = run_service(req['service'], req.get('payload'), req.get('cid'))
        return {'ok': True, 'response': json.loads(json.dumps(out, default=_not_serializable))}
    except InvokeFailure as e:
        return {'ok': False, 'status': e.status or 500, 'error': {'type': e.type, 'message': e.message, 'traceback': e.tb}}
    except BaseException as e:
        return {'ok': False, 'status': 500, 'error': {'type': type(e).__name__, 'message': str(e),
                'traceback': ''.join(traceback.format_exception(type(e), e, e.__traceback__))}}


def _not_serializable(value):
    raise TypeError('the response holds a {} which is not JSON-serializable'.format(type(value).__name__))


OPS = {'load': op_load, 'import': op_import, 'unload': op_unload, 'services': op_services, 'invoke': op_invoke,
       'ping': lambda req: {'ok': True}}
LOADER_OPS = ('load', 'import', 'unload')  # run one after another on the main thread, in the order received


def handle(req):
    try:
        resp = OPS[req['op']](req)
    except BaseException as e:
        resp = {'ok': False, 'status': 500, 'error': {'type': type(e).__name__, 'message': str(e), 'traceback': traceback.format_exc()}}
    resp['id'] = req.get('id')
    try:
        send(resp)
    except BaseException as e:
        send({'id': req.get('id'), 'ok': False, 'status': 500, 'error': {'type': type(e).__name__, 'message': str(e), 'traceback': ''}})


def loader(q):
    while True:
        req = q.get()
        if req is None:
            return
        handle(req)


def requests(f):
    """ The requests in a stream of JSON lines; a line that is not a JSON object is skipped. """
    for line in f:
        try:
            req = json.loads(line)
        except ValueError:
            continue
        if isinstance(req, dict):
            yield req


def read_loads(fd):
    """ Loads on a pipe of their own, read by the thread that runs them. """
    os.set_inheritable(fd, False)  # not for what the services spawn
    with os.fdopen(fd, 'rb') as f:
        for req in requests(f):
            handle(req)


def read_requests(loads, pool):
    """ Everything on stdin: invocations go to the pool, loads (when they share stdin) to the main thread. """
    try:
        for req in requests(sys.stdin.buffer):
            if req.get('op') in LOADER_OPS and loads is not None:
                loads.put(req)
            else:
                pool.submit(handle, req)
    finally:
        if loads is not None:
            loads.put(None)


def main():
    # Loads run on the main thread, as imports do in Zato: a module may call signal.signal at import, which Python
    # allows on the main thread only. Requests are read by a thread of their own, so invocations keep being served
    # while an import runs (or hangs); at most ZATO_INVOKE_THREADS run at once, the others wait their turn.
    loads_fd = os.environ.get('ZATO_LOADS_FD')
    loads = None if loads_fd else queue.SimpleQueue()
    pool = concurrent.futures.ThreadPoolExecutor(
        max_workers=int(os.environ.get('ZATO_INVOKE_THREADS') or 256), thread_name_prefix='zato-request')
    reader = threading.Thread(target=read_requests, args=(loads, pool), name='zato-requests')
    reader.start()
    if loads_fd:
        read_loads(int(loads_fd))
    else:
        loader(loads)
    reader.join()
    pool.shutdown(wait=True)  # at EOF the requests in progress, and those waiting, still answer


if __name__ == '__main__':
    main()
