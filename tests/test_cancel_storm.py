"""A cancel storm: 1,000 Respond goals from two clients at once, cancelled at random moments.

Real brain process, real llama-server, real DDS. Each goal is, by a seeded draw: cancelled
before its acceptance reaches the client (the cancel races the goal request to the
server), cancelled the moment it is accepted, cancelled mid-stream after a random delay,
or never cancelled; the two clients' goals also preempt each other (the newest wins).
Every goal must end (SUCCEEDED, CANCELED or ABORTED as preempted, never an error),
llama-server must be left generating nothing, the brain's memory must stay flat, and
the brain must answer a normal goal afterwards. Small max_tokens keep it to a few
minutes on two cores; the numbers are printed (pytest -s), never asserted on speed.
"""

from __future__ import annotations

import collections
import dataclasses
import os
import random
import statistics
import threading
import time
import urllib.request

import psutil
import pytest
import rclpy
from action_msgs.msg import GoalStatus
from rclpy.action.client import ClientGoalHandle
from unique_identifier_msgs.msg import UUID

from heisenberg_brain.core.coordinator import ANSWERED
from heisenberg_brain.core.fsm import Event
from heisenberg_brain.core.llama_server import get_json
from heisenberg_brain.core.replier import ReplyRequest
from heisenberg_brain.nodes.brain import BrainNode
from heisenberg_common.actions import ActionClient
from heisenberg_interfaces.action import Respond
from heisenberg_testing.processes import NodeProcess, write_params
from heisenberg_testing.ros_client import RosClient

# Runs in the README's test command like every other test: it only needs more than the
# default 300 s per-test timeout on a busy 2-core machine.
pytestmark = [pytest.mark.llm, pytest.mark.timeout(1800)]

GOALS = 1000
CLIENTS = 2
SEED = 20240607
MAX_TOKENS = 6
PLANS = ('before_accept', 'on_accept', 'mid_stream', 'never')
MID_STREAM_DELAY = (0.0, 0.25)   # seconds after acceptance
# Seconds a client waits before its next goal: mostly short, sometimes long enough for the
# other client's goal to run to its end (else the two clients preempt every goal).
SHORT_PAUSE, LONG_PAUSE, LONG_PAUSE_CHANCE = (0.0, 0.2), 1.0, 0.15
SLOTS_IDLE_WITHIN = 15.0         # seconds: a prompt already in llama-server's batch cannot be stopped
RSS_WINDOW = 100                 # goals at each end whose brain RSS samples are compared
RSS_GROWTH_BOUND = 16 * 2**20    # bytes: the brain's RSS may not grow more than this
GOAL_TIMEOUT = 60.0
PROMPTS = ('Name a color.', 'Count to five.', 'Say hello.', 'What is two plus two?',
           'Tell me a long story about a robot.', 'Name a fruit.')
NAMESPACE = 'storm'
STATUS_NAMES = {GoalStatus.STATUS_SUCCEEDED: 'SUCCEEDED', GoalStatus.STATUS_CANCELED: 'CANCELED',
                GoalStatus.STATUS_ABORTED: 'ABORTED'}


@dataclasses.dataclass
class GoalRecord:
    index: int
    plan: str
    status: str = 'no answer'
    finish_reason: str = ''
    error: str = ''
    text: str = ''
    sent: float = 0.0                 # monotonic
    cancel_sent: float | None = None
    ended: float | None = None


def tree_rss(pid: int) -> int:
    """RSS of a process and its children (the node may run under a re-exec'd interpreter)."""
    process = psutil.Process(pid)
    return sum(p.memory_info().rss for p in [process, *process.children(recursive=True)])


class Storm:
    """Shared by the client threads: the goal plans, and what the brain's RSS did along the way."""

    def __init__(self, brain_pid: int):
        rng = random.Random(SEED)
        self.records = [GoalRecord(i, rng.choice(PLANS)) for i in range(GOALS)]
        self.delays = [rng.uniform(*MID_STREAM_DELAY) for _ in range(GOALS)]
        self.pauses = [LONG_PAUSE if rng.random() < LONG_PAUSE_CHANCE else rng.uniform(*SHORT_PAUSE)
                       for _ in range(GOALS)]
        self.brain_pid = brain_pid
        self.rss: list[tuple[int, int]] = []   # (goals ended so far, brain RSS)
        self._ended = 0
        self._lock = threading.Lock()

    def goal_ended(self) -> None:
        with self._lock:
            self._ended += 1
            if self._ended % 5 == 0:
                self.rss.append((self._ended, tree_rss(self.brain_pid)))


class StormClient:
    """One client node sending its share of the goals one after another."""

    def __init__(self, name: str, storm: Storm, records: list[GoalRecord]):
        self.ros = RosClient(f'storm_client_{name}', namespace=NAMESPACE)
        self.action = ActionClient(self.ros.node, Respond, 'respond')
        self.storm = storm
        self.records = records
        self.session_id = f'storm-{name}'
        self.thread = threading.Thread(target=self._run, name=f'storm-{name}')

    def _run(self) -> None:
        for record in self.records:
            time.sleep(self.storm.pauses[record.index])
            self._run_goal(record)
            self.storm.goal_ended()

    def _run_goal(self, record: GoalRecord) -> None:
        goal = Respond.Goal(prompt=PROMPTS[record.index % len(PROMPTS)], max_tokens=MAX_TOKENS,
                            session_id=self.session_id)
        goal_id = UUID(uuid=list(os.urandom(16)))
        record.sent = time.monotonic()
        sent = self.action.send_goal_async(goal, goal_uuid=goal_id)
        if record.plan == 'before_accept':
            # A cancel for the goal id, sent before the server's answer: it may even get there first.
            record.cancel_sent = time.monotonic()
            ClientGoalHandle(self.action, goal_id, None).cancel_goal_async()
        elif record.plan == 'on_accept':
            sent.add_done_callback(lambda future: self._cancel(record, future.result()))
        if not wait_future(sent, 30):
            return
        handle = sent.result()
        if not handle.accepted:
            record.status = 'rejected'
            return
        if record.plan == 'mid_stream':
            time.sleep(self.storm.delays[record.index])
            self._cancel(record, handle)
        result = handle.get_result_async()
        if not wait_future(result, GOAL_TIMEOUT):
            return
        record.ended = time.monotonic()
        answer = result.result()
        record.status = STATUS_NAMES.get(answer.status, f'status {answer.status}')
        record.finish_reason = answer.result.finish_reason
        record.text = answer.result.text
        record.error = answer.result.error

    @staticmethod
    def _cancel(record: GoalRecord, handle) -> None:
        record.cancel_sent = time.monotonic()
        handle.cancel_goal_async()


def wait_future(future, timeout: float) -> bool:
    done = threading.Event()
    future.add_done_callback(lambda _: done.set())
    return done.wait(timeout) or future.done()


@pytest.fixture(scope='module')
def storm_brain(llama_server, tmp_path_factory):
    tmp = tmp_path_factory.mktemp('storm')
    # No history: every prompt is the cached system prompt plus a short question, so a request
    # costs llama-server a few tokens (a prompt being evaluated cannot be cancelled, and on two
    # busy cores 1,000 re-evaluated histories would take far longer than the storm itself).
    params = write_params(tmp / 'brain.yaml', 'brain', {
        'llm.endpoint': llama_server.completion_url, 'llm.first_token_timeout': 60.0,
        'llm.token_timeout': 30.0, 'llm.max_history_turns': 0, 'think_timeout': 90.0}, NAMESPACE)
    brain = NodeProcess('heisenberg_brain.nodes.brain', 'brain', namespace=NAMESPACE, params_files=(params,),
                        log_dir=tmp, ros_args=('--log-level', 'warn'))
    yield brain
    brain.stop()


def server_busy(base_url: str) -> bool:
    """A slot is generating, or requests are processing or waiting (llama-server's /metrics)."""
    if any(slot.get('is_processing') for slot in get_json(base_url + '/slots')):
        return True
    with urllib.request.urlopen(base_url + '/metrics', timeout=2.0) as response:
        metrics = response.read().decode()
    return any(float(line.split()[-1]) > 0 for line in metrics.splitlines()
               if line.startswith(('llamacpp:requests_processing', 'llamacpp:requests_deferred')))


def test_replies_cancelled_the_instant_they_start_still_end(llama_server):
    """The storm's sharpest moment, made certain: a reply cancelled as its asyncio task starts.

    In-process (the node's own dispatch, no executor spinning), so the cancel is sent before
    the asyncio thread has run a step of the reply; the reply must still end (a goal waits
    for that), whatever its coroutine had time to do.
    """
    rclpy.init(args=['--ros-args', '-r', '__ns:=/instant_cancel', '-p',
                     f'llm.endpoint:={llama_server.completion_url}'])
    node = BrainNode()
    try:
        for _ in range(20):
            reply = node.coordinator.dispatch(Event.RESPOND_GOAL,
                                              request=ReplyRequest(prompt='Say hello.', max_tokens=4))
            node.coordinator.dispatch(Event.GOAL_CANCELLED, reply=reply)
            assert reply.done.wait(10), 'a reply cancelled before its task ran never ended'
            assert reply.outcome.finish_reason in ('', 'cancelled')  # '' = its coroutine never ran
    finally:
        node.close()
        node.destroy_node()
        rclpy.try_shutdown()


def test_cancel_storm_every_goal_ends_nothing_runs_on_memory_flat(storm_brain, llama_server):
    storm = Storm(storm_brain.process.pid)
    clients = [StormClient(name, storm, storm.records[i::CLIENTS])
               for i, name in enumerate('ab'[:CLIENTS])]
    try:
        for client in clients:
            assert client.action.wait_for_server(timeout_sec=30), storm_brain.output()[-2000:]
        started = time.monotonic()
        for client in clients:
            client.thread.start()
        for client in clients:
            client.thread.join(GOALS * GOAL_TIMEOUT)
        elapsed = time.monotonic() - started

        by_status = collections.Counter(record.status for record in storm.records)
        by_plan = {plan: collections.Counter(r.status for r in storm.records if r.plan == plan)
                   for plan in PLANS}
        first = statistics.median(rss for ended, rss in storm.rss if ended <= RSS_WINDOW)
        last = statistics.median(rss for ended, rss in storm.rss if ended > GOALS - RSS_WINDOW)
        print(f'\ncancel storm: {GOALS} goals from {CLIENTS} clients in {elapsed:.1f} s '
              f'({GOALS / elapsed:.1f} goals/s); by status {dict(by_status)}')
        for plan, counts in by_plan.items():
            print(f'  {plan:>13}: {dict(counts)}')
        cancel_to_end = sorted(r.ended - r.cancel_sent for r in storm.records
                               if r.status == 'CANCELED' and r.cancel_sent and r.ended)
        print(f'  cancel sent -> CANCELED result: p50 {statistics.median(cancel_to_end) * 1000:.0f} ms, '
              f'max {cancel_to_end[-1] * 1000:.0f} ms')
        alone = [r.ended - r.sent for r in storm.records if r.status == 'SUCCEEDED']
        if alone:
            print(f'  goal sent -> SUCCEEDED result: p50 {statistics.median(alone) * 1000:.0f} ms')
        print(f'  brain RSS median: first {RSS_WINDOW} goals {first / 2**20:.1f} MiB, last {RSS_WINDOW} '
              f'{last / 2**20:.1f} MiB (growth {(last - first) / 2**20:+.1f} MiB, '
              f'bound {RSS_GROWTH_BOUND / 2**20:.0f} MiB)')

        looped = [r.text for r in storm.records if r.finish_reason == 'loop']
        print(f'  answers cut where they started repeating: {len(looped)} {looped[:3]}')

        # Every goal reached a terminal state, and none of them failed.
        assert sum(by_status[name] for name in STATUS_NAMES.values()) == GOALS, dict(by_status)
        failed = [r for r in storm.records if r.finish_reason == 'error']
        assert failed == [], failed[:5]
        for record in storm.records:
            if record.status == 'CANCELED':
                assert record.finish_reason == 'cancelled'
            elif record.status == 'ABORTED':  # preempted by a newer goal
                assert record.finish_reason == 'cancelled' and 'preempted' in record.error, record
            else:
                # A small model can repeat itself ("Hello there! Hello there!"), more so with the
                # storm's cache reuse: the loop cut still answers (Respond's FINISH_LOOP).
                assert record.finish_reason in ANSWERED and record.text.strip(), record
        # Each kind of moment really happened.
        assert by_plan['never']['SUCCEEDED'] > 0 and by_status['ABORTED'] > 0
        assert by_plan['on_accept']['CANCELED'] > 0 and by_plan['mid_stream']['CANCELED'] > 0

        # Nothing left generating, memory flat, and the brain still answers.
        assert RosClient.wait_for(lambda: not server_busy(llama_server.base_url), SLOTS_IDLE_WITHIN), \
            'llama-server still generating after the storm'
        assert last - first <= RSS_GROWTH_BOUND
        action = clients[0].action
        sent = action.send_goal_async(Respond.Goal(prompt='What is the capital of France?', max_tokens=24,
                                                   session_id='after-the-storm'))
        assert wait_future(sent, 10) and sent.result().accepted
        result = sent.result().get_result_async()
        assert wait_future(result, 60)
        assert result.result().status == GoalStatus.STATUS_SUCCEEDED, result.result().result.error
        assert result.result().result.text.strip()
        assert storm_brain.alive()
    finally:
        for client in clients:
            client.ros.close()
