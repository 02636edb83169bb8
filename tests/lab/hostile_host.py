"""A hostile host on the lab LAN: raw ZeroMQ sockets (tests/integration/rawpeer.py) and forged mDNS
records (tests/integration/fake_mdns.py) aimed at real zbus nodes on other namespace hosts, with no
cryptography. Driven by tests/lab/test_lab_hostile.py through stdin and stdout.

Usage: ip netns exec HOST python hostile_host.py MESH ADDRESS

Binds its sockets and sends its mDNS records on ADDRESS (the host's lan0 address). Prints
``ready`` once started, then one line per command, starting ``done`` (what it sent) or ``error``:

  hello ID ROUTER             a fake peer ID: HELLO to ROUTER, then a heartbeat and a warm-up event
                              (topic fake.warm) every 0.1 s from its own PUB, until the end
  forge ID TOPIC CLAIMED N    N events on TOPIC from ID's PUB claiming node CLAIMED (seq 2^63-1, 1..N-1)
  flood ID TOPIC N            N events of ID's own on TOPIC, as fast as the PUB takes them
  reply ID REQUEST CLAIMED    two REPLYs to REQUEST through ID's DEALER: claiming CLAIMED, then as ID
  impostor ID EPOCH ROUTER    a DEALER presenting node ID: BYE, then HELLO with EPOCH (its PUB here)
  ghosts ROUTER N             N peers that HELLO (with an XPUB nobody serves) and PING every 0.1 s
  mdns BAD N                  forged records: BAD malformed ones (rtr="-5", ...) and N well-formed ones
                              of distinct nodes at this host's address, ports nobody serves
Exits on stdin EOF (withdrawing its mDNS records).
"""

from __future__ import annotations

import asyncio
import os
import sys
from pathlib import Path

import zmq

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "integration"))  # the shared fakes

from fake_mdns import FakeAnnouncer, Forged, node_record
from rawpeer import FakePeer, Raw

from zbus import Event
from zbus.codec import wire
from zbus.codec.control import Kind, PeerHello

BEAT = 0.1  # s between a fake peer's heartbeats (and a ghost's PINGs)


def say(line: str) -> None:
    sys.stdout.write(line + "\n")
    sys.stdout.flush()


class Hostile:
    def __init__(self, mesh: str, address: str) -> None:
        self.mesh, self.address = mesh, address
        self.raw = Raw()
        self.peers: dict[str, FakePeer] = {}
        self.dealers: dict[str, zmq.Socket[bytes]] = {}
        self.tasks: set[asyncio.Task[None]] = set()
        self.announcer: FakeAnnouncer | None = None

    def _keep(self, coro: object) -> None:
        task = asyncio.get_running_loop().create_task(coro)  # type: ignore[arg-type]
        self.tasks.add(task)

    async def hello(self, peer_id: str, router: str) -> str:
        fake = self.peers[peer_id] = FakePeer(self.raw, peer_id, self.mesh, name=peer_id, host=self.address)
        self.dealers[peer_id] = fake.hello(router)

        async def beat() -> None:
            seq = 0
            while True:
                seq += 1
                fake.beat()
                fake.publish(fake.event("fake.warm", seq))
                await asyncio.sleep(BEAT)

        self._keep(beat())
        return f"HELLO as {peer_id} to {router}, PUB {fake.pub_endpoint}"

    async def forge(self, peer_id: str, topic: str, claimed: str, count: str) -> str:
        n = int(count)
        fake = self.peers[peer_id]
        seqs = [2**63 - 1, *range(1, n)]
        for seq in seqs:
            fake.publish(fake.event(topic, seq, node_id=claimed))
        return f"{n} events on {topic} claiming {claimed} (seq {seqs[0]}, 1..{n - 1})"

    async def flood(self, peer_id: str, topic: str, count: str) -> str:
        n = int(count)
        fake = self.peers[peer_id]
        for seq in range(1, n + 1):
            fake.publish(fake.event(topic, seq))
            if seq % 500 == 0:
                await asyncio.sleep(0)
        return f"{n} events on {topic}"

    async def reply(self, peer_id: str, request: str, claimed: str) -> str:
        dealer = self.dealers[peer_id]
        for node_id in (claimed, peer_id):
            answer = Event("sum.reply", 999, source="forged", causation_id=request)
            dealer.send_multipart([Kind.REPLY.value, *wire.encode(answer, node_id=node_id)])
        return f"2 REPLYs to {request} (claiming {claimed}, then as {peer_id})"

    async def impostor(self, peer_id: str, epoch: str, router: str) -> str:
        fake = FakePeer(self.raw, peer_id, self.mesh, name="impostor", host=self.address)
        dealer = fake.dealer_to(router)
        dealer.send_multipart([Kind.BYE.value, b""])
        fake.epoch = int(epoch)
        fake.hello(router)
        return f"BYE, then HELLO with epoch {epoch}, from a DEALER presenting {peer_id} to {router}"

    async def ghosts(self, router: str, count: str) -> str:
        n = int(count)
        dealers = []
        for i in range(n):
            ghost_id = f"ghost{i}-{os.urandom(3).hex()}"
            dealer = self.raw.socket(zmq.DEALER)
            dealer.setsockopt(zmq.IDENTITY, ghost_id.encode())
            dealer.connect(router)
            hello = PeerHello(id=ghost_id, name=ghost_id, mesh=self.mesh, epoch=1,
                              pub=f"tcp://{self.address}:9", router=f"tcp://{self.address}:9")  # fmt: skip
            dealer.send_multipart([Kind.HELLO.value, hello.encode()])
            dealers.append(dealer)

        async def ping() -> None:
            while True:
                for dealer in dealers:
                    dealer.send_multipart([Kind.PING.value, b""], zmq.NOBLOCK)
                await asyncio.sleep(BEAT)

        self._keep(ping())
        return f"{n} ghosts HELLO to {router} with an XPUB nobody serves, PING every {BEAT} s"

    async def mdns(self, bad_count: str, many_count: str) -> str:
        bad, many = int(bad_count), int(many_count)
        if self.announcer is None:
            self.announcer = await FakeAnnouncer(self.address).__aenter__()
        malformed = [
            node_record(self.mesh, rtr="-5"),
            node_record(self.mesh, pub="70000"),
            node_record(self.mesh, epoch="-1"),
            node_record(self.mesh, v="2"),
        ][:bad]
        records = [Forged(r.label, r.properties, addresses=(self.address,)) for r in malformed] + [
            Forged(
                r.label,
                {**r.properties, "rtr": str(20000 + i), "pub": str(30000 + i)},
                addresses=(self.address,),
            )
            for i, r in enumerate(node_record(self.mesh) for _ in range(many))
        ]
        await self.announcer.announce(records)
        kinds = "rtr=-5, pub=70000, epoch=-1, v=2"
        return f"{len(malformed)} malformed records ({kinds}) and {many} of nodes nobody runs"

    async def close(self) -> None:
        for task in self.tasks:
            task.cancel()
        await asyncio.gather(*self.tasks, return_exceptions=True)
        if self.announcer is not None:
            await self.announcer.__aexit__(None, None, None)
        self.raw.close()


async def main() -> None:
    mesh, address = sys.argv[1:3]
    hostile = Hostile(mesh, address)
    loop = asyncio.get_running_loop()
    lines: asyncio.Queue[str] = asyncio.Queue()
    loop.add_reader(sys.stdin.fileno(), lambda: lines.put_nowait(sys.stdin.readline()))
    say("ready")
    try:
        while line := await lines.get():
            words = line.split()
            if not words:
                continue
            try:
                say(f"done {words[0]} " + await getattr(hostile, words[0])(*words[1:]))
            except Exception as exc:  # report, keep running: the test decides
                say(f"error {words[0]}: {type(exc).__name__}: {exc}")
    finally:
        await hostile.close()


if __name__ == "__main__":
    asyncio.run(main())
