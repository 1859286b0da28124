"""The HTTP ceiling: a bare WSGI app answering a constant body, served by the same
gunicorn settings (conf/gunicorn.conf.py) as mlstack, to bound what any app can reach."""

BODY = b'{"model":"ceiling","version":1,"predictions":[0]}'


def app(environ, start_response):
    stream = environ["wsgi.input"]
    stream.read(int(environ.get("CONTENT_LENGTH") or 0))
    start_response(
        "200 OK", [("Content-Type", "application/json"), ("Content-Length", str(len(BODY)))]
    )
    return [BODY]
