"""A TCP proxy on 127.0.0.1 that delays every byte by a fixed one-way time: a database "on another
machine" for benchmarks, without slowing the loopback for anything else.

    python bench/delay_proxy.py --listen 6433 --to 5432 --delay-ms 0.25 &
    python bench/registration_load.py --database-url postgresql://postgres@127.0.0.1:6433/postgres \\
        --contacts 300 --interval 0.3

Each direction of each connection keeps its order; a chunk leaves `delay` after it arrived (so a round
trip costs twice the delay, and pipelined traffic is not slowed further).
"""

import argparse
import asyncio
import time


async def pump(reader: asyncio.StreamReader, writer: asyncio.StreamWriter, delay: float) -> None:
    """Copy one direction, each chunk held until `delay` after it arrived."""
    chunks: asyncio.Queue[tuple[float, bytes]] = asyncio.Queue()

    async def deliver() -> None:
        while True:
            due, data = await chunks.get()
            if not data:
                writer.close()
                return
            await asyncio.sleep(max(0.0, due - time.monotonic()))
            writer.write(data)
            await writer.drain()

    sender = asyncio.create_task(deliver())
    try:
        while data := await reader.read(65536):
            chunks.put_nowait((time.monotonic() + delay, data))
    finally:
        chunks.put_nowait((0.0, b""))
        await sender


async def serve(listen: int, target: int, delay: float) -> None:
    async def connection(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        upstream_reader, upstream_writer = await asyncio.open_connection("127.0.0.1", target)
        await asyncio.gather(
            pump(reader, upstream_writer, delay), pump(upstream_reader, writer, delay), return_exceptions=True
        )

    server = await asyncio.start_server(connection, "127.0.0.1", listen)
    async with server:
        await server.serve_forever()


if __name__ == "__main__":
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--listen", type=int, required=True, help="port to listen on (127.0.0.1)")
    parser.add_argument("--to", type=int, required=True, help="port to forward to (127.0.0.1)")
    parser.add_argument("--delay-ms", type=float, default=0.25, help="one-way delay in milliseconds")
    args = parser.parse_args()
    asyncio.run(serve(args.listen, args.to, args.delay_ms / 1000))
