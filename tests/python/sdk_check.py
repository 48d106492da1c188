"""Together's Python SDK against the simulator: each call must succeed and
parse into the SDK's own types. Run by tests/sim_python_sdk.rs (see
scripts/check-python-sdk.sh); TOGETHER_BASE_URL and TOGETHER_API_KEY point
at the simulator."""

import os
import sys
import tempfile
import time

from together import Together

CHAT = "meta-llama/Llama-3.3-70B-Instruct-Turbo"
EMBED = "BAAI/bge-base-en-v1.5"
RERANK = "Salesforce/Llama-Rank-V1"
FT = "meta-llama/Meta-Llama-3.1-8B-Instruct-Reference"

# The SDK's paths carry their version (`/v1/...`, `/v2/projects/...`), so
# its base URL is the simulator's origin; `models.list` needs a project.
client = Together(
    base_url=os.environ["TOGETHER_BASE_URL"].removesuffix("/v1"),
    api_key=os.environ["TOGETHER_API_KEY"],
    project_id="proj_sim",
    max_retries=0,
)
# Strict: each answer validated by pydantic against the SDK's types, so a
# field the SDK requires (a retrieved job's `user_id`, say) must be there.
strict = Together(
    base_url=os.environ["TOGETHER_BASE_URL"].removesuffix("/v1"),
    api_key=os.environ["TOGETHER_API_KEY"],
    project_id="proj_sim",
    max_retries=0,
    _strict_response_validation=True,
)
failures = []


def check(name, call):
    try:
        result = call()
        print(f"ok   {name}: {str(result)[:100]}")
        return result
    except Exception as error:  # every failure is reported, then the script fails
        print(f"FAIL {name}: {type(error).__name__}: {error}")
        if error.__cause__ is not None:  # strict mode: pydantic's reasons
            print(f"     {error.__cause__}")
        failures.append(name)
        return None


def chat():
    r = client.chat.completions.create(model=CHAT, messages=[{"role": "user", "content": "Hello there"}])
    assert r.choices[0].message.content == "Echo: Hello there", r
    return r


def chat_stream():
    chunks = list(client.chat.completions.create(model=CHAT, messages=[{"role": "user", "content": "Hello there"}], stream=True))
    text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    assert text == "Echo: Hello there", text
    return text


def completion_stream():
    chunks = list(client.completions.create(model=CHAT, prompt="Once upon", stream=True))
    assert chunks[-1].finish_reason is not None or chunks[-1].choices, chunks[-1]
    return len(chunks)


def upload():
    with tempfile.NamedTemporaryFile("w", suffix=".jsonl", delete=False) as f:
        f.write('{"text": "a b c"}\n')
    return client.files.upload(f.name, purpose="fine-tune", check=False)


check("models.list", lambda: list(client.models.list()))
check("chat", chat)
check("chat stream", chat_stream)
check("completions", lambda: client.completions.create(model=CHAT, prompt="Once upon", max_tokens=2))
check("completions stream", completion_stream)
check("embeddings", lambda: client.embeddings.create(model=EMBED, input=["a", "b"]))
check("rerank", lambda: client.rerank.create(model=RERANK, query="q", documents=["a", "b"], return_documents=True))
check("images", lambda: client.images.generate(model="black-forest-labs/FLUX.1-schnell", prompt="a cat"))
file = check("files.upload", upload)
check("files.list", lambda: client.files.list())
if file is not None:
    check("files.retrieve", lambda: client.files.retrieve(file.id))
    job = check("fine_tuning.create", lambda: client.fine_tuning.create(model=FT, training_file=file.id))
    if job is not None:
        check("fine_tuning.retrieve", lambda: client.fine_tuning.retrieve(job.id))
        check("fine_tuning.retrieve (strict)", lambda: strict.fine_tuning.retrieve(job.id))
        check("fine_tuning.list_events", lambda: client.fine_tuning.list_events(job.id))
    check("fine_tuning.list", lambda: client.fine_tuning.list())
    check("fine_tuning.list (strict)", lambda: strict.fine_tuning.list())
    time.sleep(1)  # the simulator's job finishes in 0.6 s
    check("models.list (the tuned model)", lambda: [m.name for m in client.models.list()])
    doomed = check("fine_tuning.create (to cancel)", lambda: client.fine_tuning.create(model=FT, training_file=file.id))
    if doomed is not None:
        check("fine_tuning.cancel (strict)", lambda: strict.fine_tuning.cancel(doomed.id))
        check("fine_tuning.retrieve cancelled (strict)", lambda: strict.fine_tuning.retrieve(doomed.id))
check("audio.speech", lambda: client.audio.speech.create(model="cartesia/sonic", input="hi", voice="narrator").read())
check("batches.list", lambda: client.batches.list())

if failures:
    print(f"{len(failures)} failed: {', '.join(failures)}")
    sys.exit(1)
print("all passed")
