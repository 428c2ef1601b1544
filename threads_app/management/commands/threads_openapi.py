import json

from django.core.management.base import BaseCommand
from django.test import RequestFactory
from django.urls import reverse

from threads_app.schema import OpenAPIView


class Command(BaseCommand):
    help = (
        "Print the API's OpenAPI document as this site serves it under the mount "
        "(the URL namespace given, 'threads_app' by default)."
    )

    def add_arguments(self, parser):
        parser.add_argument("--namespace", default="threads_app")

    def handle(self, *args, namespace: str, **options):
        # Built through the view itself, so the output is the served document, byte for byte
        # once parsed, including the mount named as its server.
        request = RequestFactory().get(reverse(f"{namespace}:openapi"))
        response = OpenAPIView.as_view()(request)
        self.stdout.write(json.dumps(response.data, indent=2, ensure_ascii=False))
