"""The endpoint page's test form starts from a body the model accepts (the ServiceInput of the
scoring process's swagger.json) and shows curl and Python snippets with the key left out.

The entry script here is decorated the way inference-schema decorates it; the package is not
installed in the test environment, so a minimal stand-in of its decorator and schema
functions (the ones the scoring server reads) travels in the source folder.
"""

import json
import os

import pytest

from kyanite.studio import example_of

pytestmark = pytest.mark.timeout(180)

STAND_IN = {
    "inference_schema/__init__.py": "",
    "inference_schema/schema_decorators.py": '''
def input_schema(name, schema):
    def deco(fn):
        fn._input = dict(getattr(fn, "_input", {}), **{name: schema})
        return fn
    return deco
''',
    "inference_schema/schema_util.py": '''
def is_schema_decorated(fn):
    return hasattr(fn, "_input")

def get_input_schema(fn):
    props = dict((k, v) for k, v in fn._input.items())
    return {"type": "object", "properties": props,
            "example": dict((k, v["example"]) for k, v in props.items())}

def get_output_schema(fn):
    return {"type": "object"}
''',
}

SCORE = """
from inference_schema.schema_decorators import input_schema

def init():
    pass

@input_schema("rows", {"type": "array", "items": {"type": "array", "items": {"type": "number"}},
                       "example": [[1.5, 2.0, 3.0]]})
@input_schema("scale", {"type": "number", "example": 2.0})
def run(rows, scale):
    return [sum(r) * scale for r in rows]
"""


def test_example_of_a_schema():
    assert example_of({"type": "object", "example": {"a": 1}}) == {"a": 1}
    assert example_of({"type": "object", "properties": {
        "data": {"type": "array", "items": {"type": "number"}}, "name": {"type": "string", "example": "x"},
        "kind": {"type": "string", "enum": ["a", "b"]}}}) == {"data": [0.0], "name": "x", "kind": "a"}
    assert example_of({"type": "object"}) is None
    assert example_of(None) is None


def test_endpoint_form_starts_from_the_swagger_example(ws, page, base_url, tmp_path, deployed, artifacts_dir):
    src = tmp_path / "svc"
    (src / "inference_schema").mkdir(parents=True)
    for rel, text in STAND_IN.items():
        (src / rel).write_text(text)
    (src / "score.py").write_text(SCORE)
    (tmp_path / "m.txt").write_text("weights")
    with deployed("studio-form", tmp_path / "m.txt", "studio-form-model", src) as (svc, key):
        page.goto(base_url + "/endpoints/studio-form")
        page.wait_for_function("() => document.querySelector('textarea').dataset.source === 'swagger example'")
        body = json.loads(page.locator("textarea").input_value())
        assert body == {"rows": [[1.5, 2.0, 3.0]], "scale": 2.0}
        curl = page.locator("pre.snippet-curl").inner_text()
        py = page.locator("pre.snippet-python").inner_text()
        assert curl.startswith("curl -X POST '%s'" % svc.scoring_uri)
        assert "Authorization: Bearer <your-key>" in curl and '"scale":2' in curl
        assert "Bearer <your-key>" in py and "requests.post(uri, json=body" in py
        assert key not in page.content()
        # the body as it starts is one the model accepts
        page.click("text=Send request")
        page.locator("pre.result[data-status='200']").wait_for()
        assert json.loads(page.locator("pre.result").inner_text()) == [13.0]
        # the snippets follow the body
        page.fill("textarea", '{"rows": [[1, 1]], "scale": 3}')
        assert '"scale":3' in page.locator("pre.snippet-curl").inner_text()
        page.screenshot(path=os.path.join(artifacts_dir, "endpoint-form.png"), full_page=True)
        # the snippets work as written, with the key put in
        ns = {}
        code = page.locator("pre.snippet-python").inner_text().replace("<your-key>", key)
        code = code.replace("import requests\n", "")
        import urllib.request

        class _Requests(object):  # the snippet's requests.post, over urllib (requests may be absent)
            @staticmethod
            def post(uri, json=None, headers=None):
                import json as _j
                req = urllib.request.Request(uri, data=_j.dumps(json).encode(), headers=headers, method="POST")
                with urllib.request.urlopen(req) as r:
                    data = r.read()

                class R(object):
                    status_code = r.status

                    def json(self):
                        return _j.loads(data)
                return R()
        ns["requests"] = _Requests
        printed = []
        ns["print"] = lambda *a: printed.append(a)
        exec(compile(code, "snippet", "exec"), ns)
        assert printed == [(200, [6.0])]
