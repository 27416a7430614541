using System.Text;
using AgentSessions.Functions.Webhooks;

namespace AgentSessions.Functions.Tests.Webhooks;

public sealed class WebhookSignatureTests
{
    private const string Secret = "whsec_test_0123456789abcdef";
    private const long Timestamp = 1759687474;
    private static readonly byte[] Body = Encoding.UTF8.GetBytes(
        "{\"event\":\"task.done\",\"timestamp\":\"2025-10-05T18:04:34.281Z\",\"session_id\":\"3f2a\",\"data\":{\"result\":\"ok\"}}");

    [Fact]
    public void Sign_MatchesAnIndependentlyComputedVector()
    {
        // python3: hmac.new(b'whsec_test_0123456789abcdef', b'1759687474.' + body, hashlib.sha256).hexdigest()
        Assert.Equal("sha256=24946e4fd79f41c823016e709808566f6e0649b4d8e49d6814f5d516a5f941fd", WebhookSignature.Sign(Secret, Timestamp, Body));
    }

    [Fact]
    public void TheReadmeVector_IsTheBodyTheServiceSends_AndItsSignatureCoversTheEventId()
    {
        var body = WebhookBody.Serialize(new WebhookEvent(WebhookEventNames.TaskDone, new DateTimeOffset(2025, 10, 5, 18, 4, 34, 281, TimeSpan.Zero), "3f2a",
            System.Text.Json.JsonSerializer.SerializeToElement(new { result = "ok" })), "3f2a-7");
        Assert.Equal("{\"event_id\":\"3f2a-7\",\"event\":\"task.done\",\"timestamp\":\"2025-10-05T18:04:34.281Z\",\"session_id\":\"3f2a\",\"data\":{\"result\":\"ok\"}}",
            Encoding.UTF8.GetString(body));
        var signature = WebhookSignature.Sign(Secret, Timestamp, body);
        Assert.Equal("sha256=4bb7ee1971c5508e1e882bd07eb89e31ed8bfa37708cdf30268ded76b941ba7f", signature);

        // A receiver that trusted a changed id would be fooled: the signature must not verify.
        var otherId = Encoding.UTF8.GetBytes(Encoding.UTF8.GetString(body).Replace("3f2a-7", "3f2a-8", StringComparison.Ordinal));
        Assert.False(WebhookSignature.Verify(Secret, Timestamp, otherId, signature));
    }

    [Fact]
    public void Verify_AcceptsTheSignature()
    {
        var signature = WebhookSignature.Sign(Secret, Timestamp, Body);
        Assert.True(WebhookSignature.Verify(Secret, Timestamp, Body, signature));
        Assert.True(WebhookSignature.Verify(Secret, "1759687474", Body, signature,
            DateTimeOffset.FromUnixTimeSeconds(Timestamp + 60), TimeSpan.FromMinutes(5)));
    }

    [Fact]
    public void Verify_RejectsATamperedBody()
    {
        var signature = WebhookSignature.Sign(Secret, Timestamp, Body);
        var tampered = (byte[])Body.Clone();
        tampered[^3] ^= 0x01;
        Assert.False(WebhookSignature.Verify(Secret, Timestamp, tampered, signature));
        Assert.False(WebhookSignature.Verify(Secret, Timestamp, Body.AsSpan(0, Body.Length - 1), signature));
    }

    [Fact]
    public void Verify_RejectsAnotherSecretOrTimestamp()
    {
        var signature = WebhookSignature.Sign(Secret, Timestamp, Body);
        Assert.False(WebhookSignature.Verify(Secret + "x", Timestamp, Body, signature));
        Assert.False(WebhookSignature.Verify(Secret, Timestamp + 1, Body, signature));
    }

    [Theory]
    [InlineData(null)]
    [InlineData("")]
    [InlineData("24946e4fd79f41c823016e709808566f6e0649b4d8e49d6814f5d516a5f941fd")]
    [InlineData("sha1=24946e4fd79f41c823016e709808566f6e0649b4d8e49d6814f5d516a5f941fd")]
    [InlineData("sha256=24946e4fd79f41c823016e709808566f6e0649b4d8e49d6814f5d516a5f941")]
    [InlineData("sha256=zz946e4fd79f41c823016e709808566f6e0649b4d8e49d6814f5d516a5f941fd")]
    public void Verify_RejectsMalformedSignatureHeaders(string? header)
    {
        Assert.False(WebhookSignature.Verify(Secret, Timestamp, Body, header));
    }

    [Theory]
    [InlineData("1759687474", 1759687474 + 301)]
    [InlineData("1759687474", 1759687474 - 301)]
    [InlineData("", 1759687474)]
    [InlineData("-1759687474", 1759687474)]
    [InlineData("17596874.74", 1759687474)]
    public void Verify_WithTolerance_RejectsStaleOrMalformedTimestamps(string header, long now)
    {
        var signature = WebhookSignature.Sign(Secret, Timestamp, Body);
        Assert.False(WebhookSignature.Verify(Secret, header, Body, signature, DateTimeOffset.FromUnixTimeSeconds(now), TimeSpan.FromMinutes(5)));
    }
}
