"""A TCP proxy the chaos tests control: ``python -m tests.chaos.tcp_proxy TARGET_HOST TARGET_PORT``.

It prints ``LISTEN <port> CONTROL <port>`` on its first line, then forwards connections to the
target until told otherwise on the control port (one word per line, answered with a JSON line):

* ``forward`` — normal service;
* ``blackhole`` — cut every open connection, then accept new ones and never answer (a database
  behind a dead network path: connecting hangs until the client's own timeout);
* ``reset`` — cut every open connection and close new ones at once (a database that is down);
* ``stats`` — ``{"mode", "open", "held"}``: connections forwarding, and held in the blackhole.

A separate process, so an outage the test makes is seen by other processes (the API under test)
exactly as a network fault would be, and the test's own connections are not involved.
"""

from __future__ import annotations

import asyncio
import json
import sys


class Proxy:
    def __init__(self, host: str, port: int):
        self.host, self.port = host, port
        self.mode = "forward"
        self.open: set[asyncio.StreamWriter] = set()
        self.held: set[asyncio.StreamWriter] = set()

    def cut_all(self) -> None:
        for writer in list(self.open) + list(self.held):
            transport = writer.transport
            if not transport.is_closing():
                transport.abort()  # RST, as a failed server or path would look
        self.open.clear()
        self.held.clear()

    async def client(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        if self.mode == "reset":
            writer.transport.abort()
            return
        if self.mode == "blackhole":
            self.held.add(writer)
            try:
                while await reader.read(65536):  # swallow, never answer
                    pass
            finally:
                self.held.discard(writer)
            return
        try:
            up_reader, up_writer = await asyncio.open_connection(self.host, self.port)
        except OSError:
            writer.transport.abort()
            return
        self.open.update((writer, up_writer))
        await asyncio.gather(self.pipe(reader, up_writer), self.pipe(up_reader, writer))
        self.open.difference_update((writer, up_writer))

    async def pipe(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while data := await reader.read(65536):
                writer.write(data)
                await writer.drain()
        except (ConnectionError, OSError):
            pass
        finally:
            if not writer.transport.is_closing():
                writer.transport.abort() if self.mode != "forward" else writer.close()

    async def control(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        while line := await reader.readline():
            command = line.decode().strip()
            if command in ("forward", "blackhole", "reset"):
                self.mode = command
                if command != "forward":
                    self.cut_all()
            writer.write((json.dumps({"mode": self.mode, "open": len(self.open) // 2,
                                      "held": len(self.held)}) + "\n").encode())
            await writer.drain()
        writer.close()


async def main(host: str, port: int) -> None:
    proxy = Proxy(host, port)
    server = await asyncio.start_server(proxy.client, "127.0.0.1", 0)
    control = await asyncio.start_server(proxy.control, "127.0.0.1", 0)
    print(f"LISTEN {server.sockets[0].getsockname()[1]} CONTROL {control.sockets[0].getsockname()[1]}",
          flush=True)
    async with server, control:
        await asyncio.gather(server.serve_forever(), control.serve_forever())


if __name__ == "__main__":
    asyncio.run(main(sys.argv[1], int(sys.argv[2])))
