"""SSE decoding and /completion chunk parsing, as case tables (no server, no ROS)."""

import pytest

from heisenberg_brain.core.llm_errors import LLMProtocolError, LLMServerError
from heisenberg_brain.core.sse import CompletionChunk, SSEDecoder, SSEEvent, parse_completion_chunk

FINAL = ('{"index":0,"content":"","stop":true,"stop_type":"limit","stopping_word":"",'
         '"tokens_predicted":8,"timings":{"predicted_n":8,"predicted_per_second":115.2}}')

# (name, stream bytes, expected events)
STREAMS = [
    ('one event', b'data: {"content":" Paris"}\n\n', [SSEEvent('{"content":" Paris"}')]),
    ('two events', b'data: a\n\ndata: b\n\n', [SSEEvent('a'), SSEEvent('b')]),
    ('CR LF line ends', b'data: a\r\n\r\ndata: b\r\n\r\n', [SSEEvent('a'), SSEEvent('b')]),
    ('CR line ends', b'data: a\r\rdata: b\r\r', [SSEEvent('a'), SSEEvent('b')]),
    ('mixed line ends', b'data: a\r\n\ndata: b\n\r\n', [SSEEvent('a'), SSEEvent('b')]),
    ('multi-line data', b'data: first\ndata: second\n\n', [SSEEvent('first\nsecond')]),
    ('comment and ping', b': keep-alive\n\n:\n\ndata: x\n\n', [SSEEvent('x')]),
    ('comment inside an event', b'data: a\n: ping\ndata: b\n\n', [SSEEvent('a\nb')]),
    ('event type and id', b'event: error\nid: 7\ndata: e\n\ndata: m\n\n',
     [SSEEvent('e', event='error', id='7'), SSEEvent('m', id='7')]),
    ('no space after colon', b'data:x\n\n', [SSEEvent('x')]),
    ('only one leading space removed', b'data:  x\n\n', [SSEEvent(' x')]),
    ('field without colon', b'data\n\n', [SSEEvent('')]),
    ('empty data line', b'data:\n\n', [SSEEvent('')]),
    ('event without data is not dispatched', b'event: foo\n\ndata: y\n\n', [SSEEvent('y')]),
    ('retry and unknown fields ignored', b'retry: 10\nfoo: bar\ndata: z\n\n', [SSEEvent('z')]),
    ('id with NUL ignored', b'id: a\x00b\ndata: z\n\n', [SSEEvent('z')]),
    ('UTF-8 multibyte', 'data: café 😀 €\n\n'.encode(), [SSEEvent('café 😀 €')]),
    ('leading BOM', b'\xef\xbb\xbfdata: x\n\n', [SSEEvent('x')]),
    ('blank lines only', b'\n\n\r\n', []),
    ('llama-server token then final', f'data: {{"content":"Hi"}}\n\ndata: {FINAL}\n\n'.encode(),
     [SSEEvent('{"content":"Hi"}'), SSEEvent(FINAL)]),
]


def _feed_split(stream: bytes, cuts: list[int]) -> list[SSEEvent]:
    decoder = SSEDecoder()
    events, start = [], 0
    for cut in [*cuts, len(stream)]:
        events += decoder.feed(stream[start:cut])
        start = cut
    return events + decoder.close()


@pytest.mark.parametrize('name,stream,expected', STREAMS, ids=[case[0] for case in STREAMS])
def test_events_whole_and_split_at_every_byte(name, stream, expected):
    assert _feed_split(stream, []) == expected
    for cut in range(1, len(stream)):
        assert _feed_split(stream, [cut]) == expected, f'split at byte {cut}'
    assert _feed_split(stream, list(range(1, len(stream)))) == expected, 'one byte at a time'


def test_events_come_out_as_soon_as_their_blank_line_arrives():
    decoder = SSEDecoder()
    assert decoder.feed(b'data: a\n') == []
    assert decoder.feed(b'\ndata: b') == [SSEEvent('a')]
    assert decoder.feed(b'\n\n') == [SSEEvent('b')]


def test_trailing_cr_waits_for_a_possible_lf():
    decoder = SSEDecoder()
    assert decoder.feed(b'data: a\r\n\r') == []  # the last CR may be half of CR LF
    assert decoder.feed(b'\n') == [SSEEvent('a')]
    assert decoder.feed(b'\n') == []  # ...so this LF is a blank line of its own, not a second one


def test_a_final_cr_ends_its_line_at_close():
    decoder = SSEDecoder()
    assert decoder.feed(b'data: a\r\r') == []
    assert decoder.close() == [SSEEvent('a')]


# (name, stream bytes) that end inside an event: close() must refuse them
TRUNCATED = [
    ('mid-line', b'data: {"content":"Pa'),
    ('line without blank line', b'data: {"content":"Paris"}\n'),
    ('mid-CRLF after the line', b'data: x\r'),
    ('after an event, mid-next', b'data: a\n\ndata: b'),
    ('inside a UTF-8 character', b'data: caf\xc3'),
    ('event field only', b'event: error\n'),
]


@pytest.mark.parametrize('name,stream', TRUNCATED, ids=[case[0] for case in TRUNCATED])
def test_close_raises_on_a_truncated_last_event(name, stream):
    decoder = SSEDecoder()
    decoder.feed(stream)
    with pytest.raises(LLMProtocolError):
        decoder.close()


@pytest.mark.parametrize('stream', [b'', b'data: a\n\n', b': ping\n', b'data: a\n\n\n'])
def test_close_accepts_a_stream_ended_between_events(stream):
    decoder = SSEDecoder()
    decoder.feed(stream)
    decoder.close()


def test_invalid_utf8_is_a_protocol_error():
    with pytest.raises(LLMProtocolError, match='UTF-8'):
        SSEDecoder().feed(b'data: \xff\xfe\n\n')


# (name, event data, expected chunk)
CHUNKS = [
    ('token', '{"index":0,"content":" Paris","tokens":[7042],"stop":false,"id_slot":-1,'
              '"tokens_predicted":1,"tokens_evaluated":5}',
     CompletionChunk(' Paris', tokens_predicted=1)),
    ('final, n_predict reached', FINAL,
     CompletionChunk('', stop=True, stop_type='limit', tokens_predicted=8,
                     timings={'predicted_n': 8, 'predicted_per_second': 115.2})),
    ('final, stop word', '{"content":"","stop":true,"stop_type":"word","stopping_word":"\\n",'
                         '"tokens_predicted":3,"timings":{}}',
     CompletionChunk('', stop=True, stop_type='word', tokens_predicted=3, stopping_word='\n')),
    ('final, end of sequence', '{"content":"","stop":true,"stop_type":"eos","tokens_predicted":12}',
     CompletionChunk('', stop=True, stop_type='eos', tokens_predicted=12)),
    ('escaped text', '{"content":"\\u00e9\\n\\"q\\"","stop":false}', CompletionChunk('é\n"q"')),
    ('no content (incomplete UTF-8 held back by the server)', '{"stop":false,"tokens_predicted":2}',
     CompletionChunk('', tokens_predicted=2)),
    ('null timings', '{"content":"a","stop":true,"timings":null}', CompletionChunk('a', stop=True)),
]


@pytest.mark.parametrize('name,data,expected', CHUNKS, ids=[case[0] for case in CHUNKS])
def test_parse_completion_chunk(name, data, expected):
    assert parse_completion_chunk(data) == expected


# (name, event data, expected message fragment, code, type)
ERRORS = [
    ('llama-server error object',
     '{"error":{"code":500,"message":"context shift is disabled","type":"server_error"}}',
     'context shift is disabled', 500, 'server_error'),
    ('unavailable', '{"error":{"code":503,"message":"Loading model","type":"unavailable_error"}}',
     'Loading model', 503, 'unavailable_error'),
    ('error as a string', '{"error":"out of memory"}', 'out of memory', None, None),
]


@pytest.mark.parametrize('name,data,message,code,error_type', ERRORS, ids=[case[0] for case in ERRORS])
def test_error_payload_raises_server_error(name, data, message, code, error_type):
    with pytest.raises(LLMServerError, match=message) as caught:
        parse_completion_chunk(data)
    assert (caught.value.code, caught.value.error_type, caught.value.message) == (code, error_type, message)


GARBAGE = [
    ('truncated JSON', '{"content":"Pa'),
    ('not JSON', 'hello'),
    ('OpenAI end marker', '[DONE]'),
    ('empty', ''),
    ('array', '[1, 2]'),
    ('string', '"text"'),
    ('content not a string', '{"content":42}'),
    ('timings not an object', '{"content":"","stop":true,"timings":[1]}'),
    ('tokens_predicted not a number', '{"content":"","tokens_predicted":"3"}'),
]


@pytest.mark.parametrize('name,data', GARBAGE, ids=[case[0] for case in GARBAGE])
def test_garbage_raises_protocol_error(name, data):
    with pytest.raises(LLMProtocolError):
        parse_completion_chunk(data)
