using System.Net;
using System.Net.Sockets;
using AgentSessions.Functions.Http;

namespace AgentSessions.Functions.Webhooks;

/// <summary>
/// The SSRF guard: a webhook URL whose host is, or resolves to, a loopback, private, link-local, CGNAT,
/// unspecified, multicast, reserved or cloud metadata address is refused, unless
/// <see cref="WebhookOptions.AllowPrivateNetworks"/> is set. Checked at create (422) and again before every
/// delivery, and the delivery client re-checks the address it actually connects to (DNS may change in between).
/// </summary>
public sealed class WebhookUrlGuard(WebhookOptions options)
{
    public const string Field = "webhook_url";

    /// <summary>A create request must not hang on a slow resolver.</summary>
    public static readonly TimeSpan ResolveTimeout = TimeSpan.FromSeconds(5);

    /// <summary>Throws <see cref="ApiException.InvalidField"/> (422) when <paramref name="url"/> may not receive webhooks.</summary>
    public async Task EnsureAllowedAsync(Uri url, CancellationToken cancellationToken)
    {
        var problem = await FindProblemAsync(url, cancellationToken);
        if (problem is not null)
        {
            throw ApiException.InvalidField(Field, problem);
        }
    }

    /// <summary>Why <paramref name="url"/> may not receive webhooks, or null when it may.</summary>
    public async Task<string?> FindProblemAsync(Uri url, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(url);
        if (!options.IsConfigured)
        {
            return $"webhooks are not configured on this deployment (setting {WebhookOptions.SigningSecretSetting} is not set)";
        }

        if (!url.IsAbsoluteUri || (url.Scheme != Uri.UriSchemeHttp && url.Scheme != Uri.UriSchemeHttps))
        {
            return "must be an absolute http or https URL";
        }

        if (options.AllowPrivateNetworks)
        {
            return null;
        }

        IPAddress[] addresses;
        using var timeout = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        timeout.CancelAfter(ResolveTimeout);
        try
        {
            addresses = await ResolveAsync(HostOf(url), timeout.Token);
        }
        catch (OperationCanceledException) when (!cancellationToken.IsCancellationRequested)
        {
            return "the host could not be resolved in time";
        }
        catch (SocketException)
        {
            return "the host could not be resolved";
        }
        catch (ArgumentException)
        {
            return "the host is not a valid host name";
        }

        if (addresses.Length == 0)
        {
            return "the host could not be resolved";
        }

        // The resolved addresses are not echoed: that would turn the API into an internal DNS oracle.
        return addresses.Any(IsForbidden)
            ? "the host is or resolves to a loopback, private, link-local or metadata address; webhooks may only target public addresses"
            : null;
    }

    /// <summary>The host as the resolver wants it: punycode, IPv6 literals without brackets.</summary>
    public static string HostOf(Uri url) => url.IdnHost.TrimStart('[').TrimEnd(']');

    /// <summary>IP literals are taken as they are (no lookup); names go to DNS.</summary>
    public static async Task<IPAddress[]> ResolveAsync(string host, CancellationToken cancellationToken)
    {
        if (IPAddress.TryParse(host, out var literal))
        {
            return [literal];
        }

        return await Dns.GetHostAddressesAsync(host, cancellationToken);
    }

    /// <summary>True for every address a webhook may not target.</summary>
    public static bool IsForbidden(IPAddress address)
    {
        ArgumentNullException.ThrowIfNull(address);
        if (address.IsIPv4MappedToIPv6)
        {
            address = address.MapToIPv4();
        }

        return address.AddressFamily switch
        {
            AddressFamily.InterNetwork => IsForbiddenV4(address.GetAddressBytes()),
            AddressFamily.InterNetworkV6 => IsForbiddenV6(address.GetAddressBytes()),
            _ => true,
        };
    }

    private static bool IsForbiddenV4(ReadOnlySpan<byte> a) =>
        a[0] == 0                                           // 0.0.0.0/8 "this network", incl. unspecified
        || a[0] == 10                                       // 10.0.0.0/8 private
        || (a[0] == 100 && (a[1] & 0xC0) == 64)             // 100.64.0.0/10 CGNAT (incl. 100.100.100.200 metadata)
        || a[0] == 127                                      // 127.0.0.0/8 loopback
        || (a[0] == 169 && a[1] == 254)                     // 169.254.0.0/16 link-local (incl. 169.254.169.254 metadata)
        || (a[0] == 172 && (a[1] & 0xF0) == 16)             // 172.16.0.0/12 private
        || (a[0] == 192 && a[1] == 0 && a[2] == 0)          // 192.0.0.0/24 IETF protocol assignments
        || (a[0] == 192 && a[1] == 168)                     // 192.168.0.0/16 private
        || (a[0] == 198 && (a[1] & 0xFE) == 18)             // 198.18.0.0/15 benchmarking
        || a[0] >= 224;                                     // 224.0.0.0/4 multicast, 240.0.0.0/4 reserved, broadcast

    private static bool IsForbiddenV6(ReadOnlySpan<byte> a)
    {
        if (a[..12].IndexOfAnyExcept((byte)0) < 0)
        {
            return true;                                    // ::, ::1 and the deprecated IPv4-compatible ::/96
        }

        if ((a[0] & 0xFE) == 0xFC                           // fc00::/7 unique local (incl. fd00:ec2::254 metadata)
            || (a[0] == 0xFE && (a[1] & 0xC0) == 0x80)      // fe80::/10 link-local
            || (a[0] == 0xFE && (a[1] & 0xC0) == 0xC0)      // fec0::/10 site-local (deprecated)
            || a[0] == 0xFF)                                // ff00::/8 multicast
        {
            return true;
        }

        if (a[0] == 0x00 && a[1] == 0x64 && a[2] == 0xFF && a[3] == 0x9B)
        {
            // 64:ff9b::/96 NAT64 embeds an IPv4 address; the rest of 64:ff9b::/32 (e.g. 64:ff9b:1::/48) is local use.
            return a[4..12].IndexOfAnyExcept((byte)0) >= 0 || IsForbiddenV4(a[12..]);
        }

        if (a[0] == 0x20 && a[1] == 0x02)
        {
            return IsForbiddenV4(a[2..6]);                  // 2002::/16 6to4 embeds an IPv4 address
        }

        return false;
    }
}
