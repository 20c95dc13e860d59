from spanscope.cli import app

app()
