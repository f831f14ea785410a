"""Container tests: build the image and run it under Docker as the Helm chart will."""
