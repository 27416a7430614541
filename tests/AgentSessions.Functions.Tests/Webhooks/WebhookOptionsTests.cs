using AgentSessions.Functions.Webhooks;
using Microsoft.Extensions.Configuration;

namespace AgentSessions.Functions.Tests.Webhooks;

public sealed class WebhookOptionsTests
{
    private static IConfiguration Settings(params (string Name, string Value)[] values) =>
        new ConfigurationBuilder().AddInMemoryCollection(values.Select(v => new KeyValuePair<string, string?>(v.Name, v.Value))).Build();

    [Fact]
    public void NoSettings_WebhooksOffAndPrivateNetworksRefused()
    {
        var options = WebhookOptions.FromConfiguration(Settings());
        Assert.False(options.IsConfigured);
        Assert.False(options.AllowPrivateNetworks);
        Assert.Equal(TimeSpan.FromSeconds(10), options.DeliveryTimeout);
        Assert.Equal(new WebhookRetrySettings(4, TimeSpan.FromSeconds(2), 2, TimeSpan.FromSeconds(30)), options.Retry);
    }

    [Fact]
    public void SecretAndAllowPrivateNetworks_AreRead_AndTheSecretNeverPrinted()
    {
        var options = WebhookOptions.FromConfiguration(Settings(
            ("WEBHOOK_SIGNING_SECRET", "a-long-enough-secret-value"), ("WEBHOOKS_ALLOW_PRIVATE_NETWORKS", "True")));
        Assert.True(options.IsConfigured);
        Assert.Equal("a-long-enough-secret-value", options.SigningSecret);
        Assert.True(options.AllowPrivateNetworks);
        Assert.DoesNotContain("a-long-enough-secret-value", options.ToString());
    }

    [Fact]
    public void ShortSecret_StopsStartUpNamingTheSettingButNotTheValue()
    {
        var failure = Assert.Throws<InvalidOperationException>(() =>
            WebhookOptions.FromConfiguration(Settings(("WEBHOOK_SIGNING_SECRET", "short-pw"))));
        Assert.Contains("WEBHOOK_SIGNING_SECRET", failure.Message);
        Assert.DoesNotContain("short-pw", failure.Message);
    }

    [Fact]
    public void BadBoolean_StopsStartUpNamingTheSetting()
    {
        var failure = Assert.Throws<InvalidOperationException>(() =>
            WebhookOptions.FromConfiguration(Settings(("WEBHOOKS_ALLOW_PRIVATE_NETWORKS", "yes"))));
        Assert.Contains("WEBHOOKS_ALLOW_PRIVATE_NETWORKS", failure.Message);
    }
}
