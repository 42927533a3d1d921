"""A TCP proxy on 127.0.0.1 that delays everything the server sends by a fixed time: simulated network latency.

``tc netem`` needs a network namespace (root); this needs nothing. Each reply from PostgreSQL reaches duckml
``delay_ms`` later, so every catalog round trip costs ``delay_ms`` more, as it would with the server that far
away (one direction delayed by the whole amount: the round trip is what counts).

>>> with LatencyProxy("127.0.0.1", 9, delay_ms=0) as proxy:
...     proxy.port > 0
True
"""

from __future__ import annotations

import asyncio
import threading


class LatencyProxy:
    """Forward 127.0.0.1:``port`` to ``host``:``target_port``, delaying each server→client chunk."""

    def __init__(self, host: str, target_port: int, delay_ms: float):
        self.host, self.target_port, self.delay = host, target_port, delay_ms / 1000
        self.port = 0
        self._loop = asyncio.new_event_loop()
        self._ready = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def __enter__(self) -> "LatencyProxy":
        self._thread.start()
        self._ready.wait(10)
        return self

    def __exit__(self, *exc) -> None:
        asyncio.run_coroutine_threadsafe(self._shutdown(), self._loop).result(10)
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(5)

    async def _shutdown(self) -> None:
        self._server.close()
        tasks = [t for t in asyncio.all_tasks() if t is not asyncio.current_task()]
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)

    def _run(self) -> None:
        asyncio.set_event_loop(self._loop)
        self._server = self._loop.run_until_complete(asyncio.start_server(self._serve, "127.0.0.1", 0))
        self.port = self._server.sockets[0].getsockname()[1]
        self._ready.set()
        self._loop.run_forever()

    async def _serve(self, client_reader, client_writer) -> None:
        try:
            server_reader, server_writer = await asyncio.open_connection(self.host, self.target_port)
        except OSError:
            client_writer.close()
            return

        async def pipe(reader, writer, delay):
            queue: asyncio.Queue = asyncio.Queue()

            async def deliver():  # keeps order; each chunk leaves `delay` after it arrived
                while (item := await queue.get()) is not None:
                    due, data = item
                    wait = due - self._loop.time()
                    if wait > 0:
                        await asyncio.sleep(wait)
                    writer.write(data)
                    await writer.drain()
                writer.close()

            sender = asyncio.ensure_future(deliver())
            try:
                while data := await reader.read(65536):
                    queue.put_nowait((self._loop.time() + delay, data))
            except OSError:
                pass
            queue.put_nowait(None)
            await sender

        await asyncio.gather(pipe(client_reader, server_writer, 0.0),
                             pipe(server_reader, client_writer, self.delay), return_exceptions=True)
