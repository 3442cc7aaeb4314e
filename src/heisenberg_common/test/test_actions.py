"""The action client: made while its node spins; its goal future completes when the server answers at once."""

from importlib.metadata import version
import threading
import time
import uuid

import pytest
from rclpy.action import ActionClient as RclpyActionClient, ActionServer

from heisenberg_common.actions import ActionClient
from heisenberg_interfaces.action import Speak
from heisenberg_testing.ros_client import RosClient


class ReleaseThenPause:
    """The client's lock; the sending thread pauses after releasing it (a thread switch, stretched)."""

    def __init__(self, lock):
        self._lock = lock
        self.pausing_thread = None

    def __enter__(self):
        self._lock.acquire()

    def __exit__(self, *exc):
        self._lock.release()
        if threading.get_ident() == self.pausing_thread:
            time.sleep(0.3)   # the executor thread takes the server's answer meanwhile


# rclpy releases whose send_goal_async() returns the second future (seen in the Kilted wheels).
RACY_RCLPY = ('9.1.2',)


def say_done(goal_handle):
    goal_handle.succeed()
    return Speak.Result(completed=True)


def discovered_both_ways(server: RosClient, client) -> bool:
    """The client sees the server, and the server's participant has discovered the client's endpoints.

    wait_for_server() is the client's view only: an answer the server sends before it has
    discovered the client's response reader is dropped by DDS, and that goal is never answered
    (a suite on 2 busy cores showed it in about one run of six). Each test has an action name
    of its own: the endpoints of the previous test's server and client, still in the graph for
    a while after they are gone, would otherwise satisfy this check (2 runs of 8 under load).
    """
    action = f'/{server.node.get_namespace().strip("/")}/speak/_action/'
    return (client.server_is_ready() and server.node.count_clients(action + 'send_goal') > 0
            and server.node.count_clients(action + 'get_result') > 0
            and server.node.count_clients(action + 'cancel_goal') > 0
            and server.node.count_subscribers(action + 'feedback') > 0
            and server.node.count_subscribers(action + 'status') > 0)


@pytest.fixture
def server():
    with RosClient('speak_server', namespace=f'action_test_{uuid.uuid4().hex[:8]}') as ros:
        ActionServer(ros.node, Speak, 'speak', execute_callback=say_done)
        yield ros


@pytest.mark.parametrize('client_class', [RclpyActionClient, ActionClient])
def test_a_goal_answered_before_send_goal_async_returns_is_not_lost(server, client_class):
    if client_class is RclpyActionClient and version('rclpy') not in RACY_RCLPY:
        pytest.skip(f"rclpy {version('rclpy')}: not a release known to lose the answer")
    with RosClient('speak_client', namespace=server.node.get_namespace()) as ros:
        client = client_class(ros.node, Speak, 'speak')
        assert ros.wait_for(lambda: discovered_both_ways(server, client), 20)
        if client_class is ActionClient:
            # A first goal, answered, shows the path works before the race is staged.
            warm_up = ros.result_of(client.send_goal_async(Speak.Goal(text='warm up')), 30.0)
            assert warm_up.accepted
            ros.result_of(warm_up.get_result_async(), 30.0)
        client._lock = pausing = ReleaseThenPause(client._lock)
        pausing.pausing_thread = threading.get_ident()
        future = client.send_goal_async(Speak.Goal(text='hello'))
        pausing.pausing_thread = None
        answered = ros.wait_for(future.done, 3.0 if client_class is RclpyActionClient else 10.0)
        if client_class is RclpyActionClient:
            # The pause does make the race: rclpy 9.1.2 answered a first future and returned a
            # second that never completes.
            assert not answered, 'the pause no longer makes the race: the other case proves nothing'
            return
        assert answered, 'the accepted goal never reached its client'
        handle = future.result()
        assert handle.accepted
        result = ros.result_of(handle.get_result_async(), 5.0)
        assert result.result.completed


@pytest.mark.filterwarnings('ignore::pytest.PytestUnhandledThreadExceptionWarning')  # rclpy's case
@pytest.mark.parametrize('client_class', [RclpyActionClient, ActionClient])
def test_a_client_made_while_its_node_spins_leaves_the_spin_thread_running(server, client_class):
    if client_class is RclpyActionClient and version('rclpy') not in RACY_RCLPY:
        pytest.skip(f"rclpy {version('rclpy')}: not a release known to add the client before its lock")
    with RosClient('speak_client', namespace=server.node.get_namespace()) as ros:
        # rclpy asks the node for a logger between adding the client and making its lock: stretch
        # that moment so that the spinning executor, woken by the new waitable, counts it then.
        get_logger = ros.node.get_logger
        ros.node.get_logger = lambda: (time.sleep(0.3), get_logger())[1]
        client = client_class(ros.node, Speak, 'speak')
        ros.node.get_logger = get_logger
        if client_class is RclpyActionClient:
            assert ros.wait_for(lambda: not ros._thread.is_alive(), 3.0), \
                'the stretch no longer makes the race: the other case proves nothing'
            return
        assert ros._thread.is_alive(), 'the spin thread died while the client was made'
        assert ros.wait_for(lambda: discovered_both_ways(server, client), 20)
        handle = ros.result_of(client.send_goal_async(Speak.Goal(text='hello')), 30.0)
        assert handle.accepted
        assert ros.result_of(handle.get_result_async(), 30.0).result.completed
