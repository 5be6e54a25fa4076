# SPDX-License-Identifier: BSD-2-Clause
"""A real WebSocket echo server (python3-websockets) in a thread of the
test process: every message comes back as it was sent."""
import asyncio
import threading

import websockets


class WsEcho:
    def __init__(self):
        self.port = None
        self.loop = asyncio.new_event_loop()
        self.ready = threading.Event()
        self.thread = threading.Thread(target=self._run, daemon=True)
        self._stop = None

    @property
    def address(self):
        return "127.0.0.1:%d" % self.port

    async def _echo(self, ws, path=None):
        async for msg in ws:
            await ws.send(msg)

    async def _main(self):
        self._stop = asyncio.Event()
        async with websockets.serve(self._echo, "127.0.0.1", 0) as server:
            self.port = server.sockets[0].getsockname()[1]
            self.ready.set()
            await self._stop.wait()

    def _run(self):
        asyncio.set_event_loop(self.loop)
        self.loop.run_until_complete(self._main())

    def start(self):
        self.thread.start()
        self.ready.wait(10)
        return self

    def stop(self):
        if self._stop is not None:
            self.loop.call_soon_threadsafe(self._stop.set)
        self.thread.join(5)
