"""The skills' ROS effects with rclpy: SkillEffects (core/skills/source.py) for the brain node.

Types come as names ('nav2_msgs/action/NavigateToPose') and fields as nested dicts; both go
through heisenberg_common.messages. Clients, publishers and subscriptions are one per
(type, name), kept. The brain makes every configured skill's with ``prepare`` when it starts
(before it spins), so DDS has matched them both ways long before the first command: a client's
graph view says its server is there before the server has discovered the client, and a goal
or an answer sent in that window is dropped (heisenberg_common/test/test_actions.py,
``discovered_both_ways``): the person would hear a failure on the first command. A name not
prepared (a caller that did not call prepare) gets its entity on first use, as before.

Threads: every method but ``prepare`` and ``servers`` runs on the brain's asyncio loop (the
skills core calls them there); rclpy completes its futures and runs callbacks on executor
threads, which only hand the outcome to the loop (call_soon_threadsafe). So ``on_feedback``,
goal results and the latest message of a topic are all seen on the loop, and nothing here
blocks it: waiting for a server is polled on the loop (rclpy's wait_for_server and
wait_for_service sleep the calling thread).

Rules:
- every wait is bounded by the timeout given: no server by then is "the <name> action server
  is not running" (or service); a goal not accepted by then is given up, and cancelled by its
  id in case the server did accept it and the answer is still on its way (or was lost);
- a goal rejected is "the <name> action server rejected the goal";
- a goal accepted after the caller gave up (or was cancelled) is cancelled at once;
- ``publish`` on a publisher made just now holds the message until a subscription matches
  (at most PUBLISH_MATCH_WAIT), since DDS drops what is written before discovery;
- ``read_field`` subscribes with the sensor-data QoS (best effort matches reliable and
  best-effort writers alike, which is what battery and sensor drivers use), keeps the
  subscription and the latest message, and answers from it at once once one has come;
- a type that is not installed or a field that does not fit is logged in full and raised as
  a SkillEffectError the person can hear;
- a SkillEffectError names its reason by key (core/phrases.py's 'reason.<key>'), so the person
  hears it in the language they asked in; its message is the English sentence.

Relative names resolve under ``namespace`` (default '/': skills address the robot, whose
interfaces are rarely under the assistant's own namespace); None resolves them as rclpy
does, under the node's namespace.
"""

from __future__ import annotations

import asyncio
import re
import uuid
from typing import Any, Callable, Iterable

from action_msgs.msg import GoalStatus
from rclpy.action.client import ClientGoalHandle
from rclpy.event_handler import PublisherEventCallbacks
from rclpy.impl.implementation_singleton import rclpy_implementation as _rclpy
from rclpy.node import Node
from rclpy.qos import qos_profile_sensor_data
from unique_identifier_msgs.msg import UUID

from heisenberg_brain.core.skills.source import GoalResult, SkillEffectError, speakable
from heisenberg_brain.core.skills.spec import TYPE_KIND, SkillSpec
from heisenberg_common.actions import ActionClient
from heisenberg_common.messages import FieldError, TypeNotFound, fill, read, resolve
from heisenberg_common.qos import EVENTS

SERVER_POLL = 0.05          # s between looks for an action or service server
PUBLISH_MATCH_WAIT = 2.0    # s a new publisher holds its messages for a first subscription
_STATUS = {GoalStatus.STATUS_SUCCEEDED: 'succeeded', GoalStatus.STATUS_CANCELED: 'canceled',
           GoalStatus.STATUS_ABORTED: 'aborted'}


def _words(type_name: str) -> str:
    """'nav2_msgs/action/NavigateToPose' -> 'navigate to pose'."""
    name = type_name.rsplit('/', 1)[-1]
    return re.sub(r'(?<=[a-z0-9])(?=[A-Z])', ' ', name).lower()


def _settle(future: asyncio.Future, value: Any = None, error: BaseException | None = None) -> None:
    """Complete an asyncio future unless it is already done (given up on). On the loop."""
    if future.done():
        return
    if error is not None:
        future.set_exception(error)
    else:
        future.set_result(value)


class RosGoal:
    """An accepted goal (GoalHandle of core/skills/source.py)."""

    def __init__(self, handle: ClientGoalHandle, loop: asyncio.AbstractEventLoop, server: str):
        """server: the action's name as it is said ('navigate to pose'), for a lost goal's reason."""
        self._handle = handle
        self._loop = loop
        self._server = server
        self._result = loop.create_future()
        handle.get_result_async().add_done_callback(
            lambda future: loop.call_soon_threadsafe(self._ended, future))

    def result(self) -> asyncio.Future:
        """How the goal ended (a GoalResult); shielded, so a caller's timeout does not spoil it."""
        return asyncio.shield(self._result)

    def cancel(self) -> None:
        """Ask the server to cancel; returns at once."""
        self._handle.cancel_goal_async()

    def _ended(self, future) -> None:
        if future.cancelled() or future.exception() is not None:
            _settle(self._result, error=SkillEffectError(key='goal_lost', name=self._server))
            return
        response = future.result()
        _settle(self._result, GoalResult(_STATUS.get(response.status, 'aborted'), response.result))


class _Latest:
    """A topic read_field subscribes to: its latest message, and who waits for the first one."""

    def __init__(self):
        self.message = None
        self.count = 0
        self.waiting: list[asyncio.Future] = []

    def took(self, message) -> None:
        self.message = message
        self.count += 1
        for waiter in self.waiting:
            _settle(waiter, message)
        self.waiting.clear()


class _HeldPublisher:
    """A publisher that holds what is published until a first subscription matches, or a while."""

    def __init__(self, node: Node, message_class: type, topic: str, loop: asyncio.AbstractEventLoop,
                 callback_group):
        self._held: list | None = []
        events = PublisherEventCallbacks(
            matched=lambda info: loop.call_soon_threadsafe(self._release) if info.current_count else None)
        self.publisher = node.create_publisher(message_class, topic, EVENTS, callback_group=callback_group,
                                               event_callbacks=events)
        # Made on the loop (first use) or before it runs anything of ours (prepare): call_later is
        # not thread-safe, so it is handed to the loop either way.
        loop.call_soon_threadsafe(loop.call_later, PUBLISH_MATCH_WAIT, self._release)

    def publish(self, message) -> None:
        if self._held is None:
            self.publisher.publish(message)
        else:
            self._held.append(message)

    def _release(self) -> None:
        held, self._held = self._held, None
        for message in held or ():
            self.publisher.publish(message)


class RosSkillEffects:
    """SkillEffects with rclpy on node; see the module docstring for threads and rules.

    loop: the asyncio loop the skills core runs on (a thread running loop.run_forever).
    callback_group: for the clients' and subscriptions' callbacks; they only hand results to
    the loop, so a ReentrantCallbackGroup (the brain's) keeps them from waiting on each other.
    """

    def __init__(self, node: Node, loop: asyncio.AbstractEventLoop, callback_group=None,
                 namespace: str | None = '/'):
        self._node = node
        self._loop = loop
        self._group = callback_group
        self._namespace = namespace
        self._actions: dict[tuple[str, str], ActionClient] = {}
        self._services: dict[tuple[str, str], Any] = {}
        self._publishers: dict[tuple[str, str], _HeldPublisher] = {}
        self._latest: dict[tuple[str, str], _Latest] = {}
        # skill name -> (its action or service, said as 'action /robot/go_to'; is its server seen?)
        self._servers: dict[str, tuple[str, Callable[[], bool]]] = {}

    # ------------------------------------------------------------------ start-up
    def prepare(self, skills: Iterable[SkillSpec]) -> None:
        """Make each skill's action or service client, publisher or subscription now (module docstring).

        Call it before the node spins: the maps it fills are the loop's afterwards. A skill whose
        type is not installed is skipped (the brain has warned, and the skill says so when asked);
        one whose server is absent gets its client all the same, and fails clearly at use.
        """
        for skill in skills:
            effect = skill.effect
            try:
                interface = resolve(effect.type, TYPE_KIND[effect.kind])
            except TypeNotFound:
                continue
            key = (effect.type, self._name(effect.name))
            if effect.kind == 'action':
                client = self._action_client(interface, key)
                self._servers[skill.name] = (f'action {key[1]}', client.server_is_ready)
            elif effect.kind == 'service':
                client = self._service_client(interface, key)
                self._servers[skill.name] = (f'service {key[1]}', client.service_is_ready)
            elif effect.kind == 'publish':
                self._publisher(interface, key)
            else:
                self._subscribe(interface, effect.type, effect.name)

    def servers(self) -> dict[str, tuple[str, bool]]:
        """Each prepared action or service skill: (its action or service, whether its server is seen now).

        The clients' graph view, for /diagnostics; any thread.
        """
        try:
            return {name: (what, ready()) for name, (what, ready) in self._servers.items()}
        except (_rclpy.RCLError, _rclpy.InvalidHandle):
            if self._node.context.ok():
                raise
            return {}   # Ctrl-C shut the context down under the health report: nobody is left to tell

    # ------------------------------------------------------------------ actions
    async def send_goal(self, action_type: str, action_name: str, goal: dict,
                        on_feedback: Callable[[Any], None], timeout: float) -> RosGoal:
        """Send the goal once the server is there; return when it is accepted (all within timeout)."""
        loop = self._loop
        deadline = loop.time() + timeout
        server = speakable(action_name)
        action = self._resolve(action_type, 'action')
        message = self._fill(action.Goal, goal, action_type, 'goal')
        client = self._action_client(action, (action_type, self._name(action_name)))
        if not await self._until(client.server_is_ready, deadline):
            raise SkillEffectError(key='action_missing', name=server)

        goal_id = UUID(uuid=list(uuid.uuid4().bytes))
        accepted = loop.create_future()

        def answered(future) -> None:   # on the loop
            if future.cancelled() or future.exception() is not None:
                _settle(accepted, error=SkillEffectError(key='goal_not_taken', name=server))
                return
            handle = future.result()
            if accepted.done():   # given up on: a goal accepted now has no owner
                if handle.accepted:
                    handle.cancel_goal_async()
            elif not handle.accepted:
                _settle(accepted, error=SkillEffectError(key='goal_rejected', name=server))
            else:
                _settle(accepted, RosGoal(handle, loop, server))

        sent = client.send_goal_async(
            message, goal_uuid=goal_id,
            feedback_callback=lambda feedback: loop.call_soon_threadsafe(on_feedback, feedback.feedback))
        sent.add_done_callback(lambda future: loop.call_soon_threadsafe(answered, future))
        try:
            return await asyncio.wait_for(asyncio.shield(accepted), max(0.0, deadline - loop.time()))
        except asyncio.TimeoutError:
            self._give_up(client, goal_id, accepted)
            raise SkillEffectError(key='goal_not_accepted', name=server, seconds=timeout) from None
        except asyncio.CancelledError:
            self._give_up(client, goal_id, accepted)
            raise

    @staticmethod
    def _give_up(client: ActionClient, goal_id: UUID, accepted: asyncio.Future) -> None:
        if accepted.done() and not accepted.cancelled() and accepted.exception() is None:
            accepted.result().cancel()   # accepted just as the wait ended
            return
        accepted.cancel()
        # The server may have accepted it with the answer still on its way or lost by DDS.
        ClientGoalHandle(client, goal_id, None).cancel_goal_async()

    # ------------------------------------------------------------------ services
    async def call_service(self, service_type: str, service_name: str, request: dict, timeout: float) -> Any:
        """The response message, once the server is there and has answered (all within timeout)."""
        loop = self._loop
        deadline = loop.time() + timeout
        service = speakable(service_name)
        srv = self._resolve(service_type, 'srv')
        message = self._fill(srv.Request, request, service_type, 'request')
        client = self._service_client(srv, (service_type, self._name(service_name)))
        if not await self._until(client.service_is_ready, deadline):
            raise SkillEffectError(key='service_missing', name=service)
        answer = loop.create_future()

        def answered(future) -> None:   # on the loop
            if future.cancelled() or future.exception() is not None:
                _settle(answer, error=SkillEffectError(key='service_no_answer', name=service))
            else:
                _settle(answer, future.result())

        pending = client.call_async(message)
        pending.add_done_callback(lambda future: loop.call_soon_threadsafe(answered, future))
        try:
            return await asyncio.wait_for(answer, max(0.0, deadline - loop.time()))
        except asyncio.TimeoutError:
            raise SkillEffectError(key='service_silent', name=service, seconds=timeout) from None
        finally:
            if not pending.done():
                client.remove_pending_request(pending)

    # ------------------------------------------------------------------ topics
    def publish(self, message_type: str, topic: str, message: dict) -> None:
        """Publish (reliable, EVENTS QoS); a new publisher holds it until a subscription matches."""
        message_class = self._resolve(message_type, 'msg')
        filled = self._fill(message_class, message, message_type, 'message')
        self._publisher(message_class, (message_type, self._name(topic))).publish(filled)

    async def read_field(self, message_type: str, topic: str, field: str, timeout: float) -> Any:
        """The dotted field of the latest message on topic, waiting up to timeout for a first one."""
        message_class = self._resolve(message_type, 'msg')
        latest = self._subscribe(message_class, message_type, topic)
        message = latest.message
        if message is None:
            waiter = self._loop.create_future()
            latest.waiting.append(waiter)
            try:
                message = await asyncio.wait_for(waiter, timeout)
            except asyncio.TimeoutError:
                raise SkillEffectError(key='no_message', name=speakable(topic), seconds=timeout) from None
            finally:
                if waiter in latest.waiting:
                    latest.waiting.remove(waiter)
        try:
            return read(message, field)
        except FieldError as exc:
            self._node.get_logger().error(f'skill effects: {exc}')
            raise SkillEffectError(key='no_field', type=_words(message_type),
                                   field=speakable(field.replace('.', ' '))) from None

    def received(self, message_type: str, topic: str) -> int:
        """How many messages read_field's subscription to topic has taken (0 before it subscribed)."""
        latest = self._latest.get((message_type, self._name(topic)))
        return 0 if latest is None else latest.count

    def _subscribe(self, message_class: type, message_type: str, topic: str) -> _Latest:
        key = (message_type, self._name(topic))
        latest = self._latest.get(key)
        if latest is None:
            latest = self._latest[key] = _Latest()
            loop = self._loop
            self._node.create_subscription(message_class, key[1],
                                           lambda message: loop.call_soon_threadsafe(latest.took, message),
                                           qos_profile_sensor_data, callback_group=self._group)
        return latest

    # ------------------------------------------------------------------ helpers
    def _action_client(self, action: type, key: tuple[str, str]) -> ActionClient:
        client = self._actions.get(key)
        if client is None:
            client = self._actions[key] = ActionClient(self._node, action, key[1], callback_group=self._group)
        return client

    def _service_client(self, srv: type, key: tuple[str, str]) -> Any:
        client = self._services.get(key)
        if client is None:
            client = self._services[key] = self._node.create_client(srv, key[1], callback_group=self._group)
        return client

    def _publisher(self, message_class: type, key: tuple[str, str]) -> _HeldPublisher:
        publisher = self._publishers.get(key)
        if publisher is None:
            publisher = self._publishers[key] = _HeldPublisher(self._node, message_class, key[1], self._loop,
                                                               self._group)
        return publisher

    def _name(self, name: str) -> str:
        if self._namespace is None or name.startswith(('/', '~')):
            return name
        return f'{self._namespace.rstrip("/")}/{name}'

    async def _until(self, ready: Callable[[], bool], deadline: float) -> bool:
        """Poll ready on the loop until deadline (rclpy has no awaitable for a server appearing)."""
        while not ready():
            left = deadline - self._loop.time()
            if left <= 0:
                return False
            await asyncio.sleep(min(SERVER_POLL, left))
        return True

    def _resolve(self, type_name: str, kind: str) -> type:
        try:
            return resolve(type_name, kind)
        except TypeNotFound as exc:
            self._node.get_logger().error(f'skill effects: {exc}')
            package = type_name.split('/', 1)[0]
            raise SkillEffectError(key='type_missing', type=_words(type_name), package=speakable(package)) \
                from None

    def _fill(self, message_class: type, fields: dict, type_name: str, what: str) -> Any:
        try:
            return fill(message_class, fields)
        except FieldError as exc:
            self._node.get_logger().error(f'skill effects: {type_name} {what}: {exc}')
            path = speakable(re.sub(r'[.\[\]]+', ' ', exc.path))
            raise SkillEffectError(key=f'misfit.{what}', field=path, type=_words(type_name)) from None
        except TypeNotFound as exc:   # a nested message type that is not installed
            self._node.get_logger().error(f'skill effects: {type_name} {what}: {exc}')
            raise SkillEffectError(key=f'type_needed.{what}', type=_words(type_name)) from None
