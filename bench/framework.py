"""The framework bound: an empty flask-restx resource on mlstack's prediction URL, set
up as mlstack's app is (a Blueprint carrying the Api, ProxyFix for the one nginx in
front), under the same gunicorn settings. It reads the body and answers the ceiling's
constant: what any Flask + flask-restx endpoint reaches before it does any work, so the
gap between it and the ceiling is the framework's, and the gap below it is ours."""

from ceiling import BODY
from flask import Blueprint, Flask, request
from flask_restx import Api, Resource
from werkzeug.middleware.proxy_fix import ProxyFix

app = Flask(__name__)
blueprint = Blueprint("api", __name__, url_prefix="/api/v1")
api = Api(blueprint, doc="/docs")


@api.route("/models/<string:name>/predict")
class Predict(Resource):
    def post(self, name):
        request.get_data(cache=False)
        return app.response_class(BODY, mimetype="application/json")


app.register_blueprint(blueprint)
app.wsgi_app = ProxyFix(app.wsgi_app, x_for=1, x_proto=1, x_host=1, x_port=1, x_prefix=1)
