"""Set-up calls of the object-store test servers that object_store has no
API for: making a bucket or container, an SQS queue and the bucket's event
notifications to it. Run by tests/util/objstore.rs with the venv's python
that scripts/lib.sh's ensure_objstore_venv installs (boto3 comes with moto,
azure-storage-blob beside it).

    objstore.py s3-bucket ENDPOINT KEY_ID SECRET BUCKET
    objstore.py s3-notify ENDPOINT BUCKET QUEUE     (prints the queue's URL)
    objstore.py sqs-receive QUEUE_URL               (prints the message bodies)
    objstore.py az-container BLOB_URL CONTAINER
"""

import sys


def s3(endpoint, key_id="test", secret="test"):
    import boto3

    return boto3.client(
        "s3",
        endpoint_url=endpoint,
        aws_access_key_id=key_id,
        aws_secret_access_key=secret,
        region_name="us-east-1",
    )


def s3_bucket(endpoint, key_id, secret, bucket):
    s3(endpoint, key_id, secret).create_bucket(Bucket=bucket)


def sqs(endpoint):
    import boto3

    return boto3.client(
        "sqs",
        endpoint_url=endpoint,
        aws_access_key_id="test",
        aws_secret_access_key="test",
        region_name="us-east-1",
    )


def s3_notify(endpoint, bucket, queue):
    url = sqs(endpoint).create_queue(QueueName=queue)["QueueUrl"]
    arn = sqs(endpoint).get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    s3(endpoint).put_bucket_notification_configuration(
        Bucket=bucket,
        NotificationConfiguration={
            "QueueConfigurations": [{"QueueArn": arn, "Events": ["s3:ObjectCreated:*"]}]
        },
    )
    print(url)


def sqs_receive(queue_url):
    endpoint = queue_url.rsplit("/", 2)[0]
    answer = sqs(endpoint).receive_message(QueueUrl=queue_url, MaxNumberOfMessages=10, WaitTimeSeconds=1)
    for message in answer.get("Messages", []):
        print(message["Body"])


def az_container(blob_url, container):
    from azure.storage.blob import BlobServiceClient

    key = (
        "Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/"
        "K1SZFPTOtr/KBHBeksoGMGw=="
    )
    client = BlobServiceClient(account_url=blob_url + "/devstoreaccount1", credential={"account_name": "devstoreaccount1", "account_key": key})
    client.create_container(container)


COMMANDS = {"s3-bucket": s3_bucket, "s3-notify": s3_notify, "sqs-receive": sqs_receive, "az-container": az_container}

if __name__ == "__main__":
    COMMANDS[sys.argv[1]](*sys.argv[2:])
