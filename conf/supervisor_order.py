"""supervisord's XML-RPC interface, with `stop all` (and so `restart all`) in order.

Stock supervisord signals every program at once on `supervisorctl stop all` /
`restart all`: PostgreSQL then stops while the worker is still saving a trained model,
and the job is lost until its heartbeat times out. Its own shutdown (SIGTERM, `docker
stop`) already stops one program at a time, highest priority first, waiting for each.
This interface makes `stopAllProcesses` do the same: nginx, worker, gunicorn, then
PostgreSQL, each fully stopped (or killed after its stopwaitsecs) before the next is
signalled. `startAllProcesses` is the stock one, which starts in priority order.

Loaded by supervisord.conf's [rpcinterface:supervisor] section; conf/entrypoint.sh puts
this directory on supervisord's PYTHONPATH."""

from __future__ import annotations

import types

from supervisor.http import NOT_DONE_YET
from supervisor.options import make_namespec
from supervisor.rpcinterface import SupervisorNamespaceRPCInterface, isRunning
from supervisor.xmlrpc import Faults, RPCError


class OrderedStopRPCInterface(SupervisorNamespaceRPCInterface):
    def stopAllProcesses(self, wait=True):  # noqa: N802 - supervisor's XML-RPC name
        """Stop all processes one at a time, highest priority first (as supervisord's
        own shutdown does), each fully stopped before the next is signalled."""
        if not wait:
            return super().stopAllProcesses(wait=False)
        self._update("stopAllProcesses")
        pending = list(reversed(self._getAllProcesses()))
        results: list[dict] = []
        current: list = []  # [(group, process, callback)] while one is stopping

        def result(group, process, code=Faults.SUCCESS, text="OK") -> dict:
            return {
                "name": process.config.name,
                "group": group.config.name,
                "status": code,
                "description": text,
            }

        def stop_in_order():
            while True:
                if current:
                    group, process, callback = current[0]
                    try:
                        if callback() is NOT_DONE_YET:
                            return NOT_DONE_YET
                        results.append(result(group, process))
                    except RPCError as exc:
                        results.append(result(group, process, exc.code, exc.text))
                    current.clear()
                    continue
                if not pending:
                    return results
                group, process = pending.pop(0)
                if not isRunning(process):
                    continue
                name = make_namespec(group.config.name, process.config.name)
                try:
                    callback = self.stopProcess(name, wait=True)
                except RPCError as exc:
                    results.append(result(group, process, exc.code, exc.text))
                    continue
                if isinstance(callback, types.FunctionType):
                    current.append((group, process, callback))
                else:
                    results.append(result(group, process))

        stop_in_order.delay = 0.05
        stop_in_order.rpcinterface = self
        return stop_in_order


def make_rpcinterface(supervisord, **config):
    return OrderedStopRPCInterface(supervisord)
